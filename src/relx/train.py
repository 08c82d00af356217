"""``python -m relx.train``: compose ``conf/train.yaml`` with Hydra, fit, test, write the run directory."""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from relx.catalog import shipped_task_table
from relx.cli import reports_errors
from relx.data.readers import require_data_dir
from relx.interrupts import SignalGuard

OmegaConf.register_new_resolver("relx.task_table", shipped_task_table, replace=True)


@hydra.main(config_path="pkg://relx.conf", config_name="train", version_base="1.3")
@reports_errors
def main(cfg: DictConfig) -> float:
    run_dir = HydraConfig.get().runtime.output_dir
    # A signal while the libraries load is acted on when runs.train starts (its own guard takes it over):
    # relx's one line and status 128+signum, like a signal at any later point.
    with SignalGuard(Path(run_dir) / "checkpoints" / "last.ckpt", defer=True):
        from relx.composition import expand_tasks

        resolved = expand_tasks(
            OmegaConf.to_container(cfg, resolve=True),  # type: ignore[arg-type]
            list(HydraConfig.get().overrides.task),
        )
        if resolved.get("data_dir") is not None:  # before torch and transformers load: a mistyped path fails fast
            require_data_dir(resolved["data_dir"])

        from relx.build import check_head_fits_task, monitor_of
        from relx.multitask import check_tasks, is_multitask
        from relx.runs import train

        if is_multitask(resolved):
            check_tasks(resolved)
        else:
            check_head_fits_task(resolved)
        metrics = train(resolved, run_dir)
    return metrics.get(monitor_of(resolved), float("nan"))  # the sweep objective


if __name__ == "__main__":
    main()
