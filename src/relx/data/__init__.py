"""Datasets: pure readers (file -> examples), pure encoders (example -> features) and DataModules."""
