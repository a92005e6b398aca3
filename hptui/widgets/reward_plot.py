"""The reward plot: mean and best reward per PPO epoch, or best validation accuracy so far
during the warm-up."""

from __future__ import annotations

from typing import Any

from textual_plotext import PlotextPlot


class RewardPlot(PlotextPlot):
    """Plotext plot whose data is kept on the widget (`mode`, `xs`, `series`, `switch_x`), so
    tests and callers can read what is drawn without looking at pixels."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mode = "empty"  # "ppo", "warmup" or "empty"
        self.xs: list[float] = []
        self.series: dict[str, list[float]] = {}
        self.switch_x: float | None = None
        self._key: tuple[Any, ...] = ()

    def on_mount(self) -> None:
        super().on_mount()
        self._draw()

    def show_ppo(self, updates: list[dict[str, Any]]) -> None:
        """One point per PPO update; a vertical line where the trajectory length changes."""
        ups = sorted(updates, key=lambda u: u["ppo_epoch"])
        xs = [float(u["ppo_epoch"]) for u in ups]
        series = {
            "mean reward": [float(u["mean_reward"]) for u in ups],
            "best reward": [float(u["best_reward"]) for u in ups],
        }
        switch = next(
            (
                u["ppo_epoch"] + 0.5
                for u, v in zip(ups, ups[1:], strict=False)
                if v["traj_len"] != u["traj_len"]
            ),
            None,
        )
        self._set("ppo", xs, series, switch, ups[-1]["traj_len"] if ups else None)

    def show_warmup(self, accuracies: list[float]) -> None:
        """Best validation accuracy so far after each finished evaluation."""
        best, ys = 0.0, []
        for a in accuracies:
            best = max(best, a)
            ys.append(best)
        xs = [float(i) for i in range(1, len(ys) + 1)]
        self._set("warmup" if ys else "empty", xs, {"best val acc": ys} if ys else {}, None, None)

    def _set(
        self,
        mode: str,
        xs: list[float],
        series: dict[str, list[float]],
        switch: float | None,
        traj_len: int | None,
    ) -> None:
        key = (mode, tuple(xs), tuple((k, tuple(v)) for k, v in series.items()), switch)
        if key == self._key:
            return  # nothing changed: no redraw
        self._key = key
        self.mode, self.xs, self.series, self.switch_x = mode, xs, series, switch
        self._traj_len = traj_len
        self._draw()

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if self.mode == "empty":
            plt.title("reward: no finished trials yet")
        else:
            colors = ("cyan", "orange", "green")
            for (label, ys), color in zip(self.series.items(), colors, strict=False):
                plt.plot(self.xs, ys, label=label, marker="braille", color=color)
            if self.mode == "ppo":
                plt.title("reward per PPO epoch")
                plt.xlabel("PPO epoch")
                if self.switch_x is not None:
                    plt.vline(self.switch_x, "magenta")
                    top = max(self.series["best reward"])
                    plt.text(f"len {self._traj_len}", x=self.switch_x, y=top, color="magenta")
            else:
                plt.title("warm-up: best val accuracy so far")
                plt.xlabel("evaluation")
        self.refresh()
