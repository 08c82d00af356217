from relx.modules.task import OptimSettings, TaskModule

__all__ = ["OptimSettings", "TaskModule"]
