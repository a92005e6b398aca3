"""The keys and what the panes show."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from hptui.view import (
    ACCURACY_WORDS,
    MetricWords,
    reward_formula,
    score_formula,
    weights_text,
)


def help_text(words: MetricWords = ACCURACY_WORDS) -> str:
    """The help, its formulas written from engine.reward (hptui.view), in the words of the
    run's metric (`words`)."""
    if words.is_accuracy:
        pane, plotted, measure, estimate = (
            "accuracy",
            "validation accuracy",
            "accuracy",
            "its best estimated accuracy then",
        )
    else:
        name = f"`{words.name.replace('`', '')}`"  # as written, never read as Markdown
        pane = plotted = name
        measure = f"{name}'s utility u ({words.utility_text()})"
        estimate = f"its best estimated {name} then"
    return f"""\
# hptui

The engine runs in its own process and writes everything to the store; this screen
reads it twice a second. It only ever writes commands, which the engine answers
within a second (see the log).

| key | does |
|-----|------|
| `p` | pause (no new trials start; running ones finish) / resume |
| `e` or `space` | edit the search space and pruning rules (a new space version) |
| `x` | export the best trial's hyperparameters as JSON (same as `hptui export`) |
| `s` | stop: running trials finish, then the run ends (asks first) |
| `c` | cancel: kill running trials and end the run (asks first) |
| `q` | quit; while the run is active, choose detach or stop |
| `m` | what matters: which hyperparameters decided the score, and where (also `8`) |
| `1`-`8` | small terminals: trials, trial, {pane}, penalties, trainers, log, proposer, matters |
| `6` / `7` / `8` | large terminals: the log / the proposer / what matters in the bottom row |
| `←` `→` | in the proposer: previous / next PPO step (`Home`: first, `End`: the table's) |
| `o` / `O` | in the trials table: next sort column / reverse order |
| `f` / `F` | in the trials table: show one phase / one status (again: the next) |
| `↑` `↓` `Enter` | pick a trial to see its epochs, reward breakdown and error |
| `↑` `↓` then `e` | in what matters: pick a hyperparameter, edit its range |
| `Tab` | next pane (small terminals: shows it) |
| `?` | this help (Esc closes) |

**Best** is the finished search trial with the highest **score**, as the store ranks
them (`hptui show`, `hptui export` and every pane here use that one ranking). The score is
the reward under one set of weights for every trial (the run's final ones:
{score_formula(words)}), so early and late trials compare fairly; it is shown beside the best
trial and in the `score` column. The best trial is marked ★ in the table and @ in the
{pane} plot.

**Reward** {reward_formula(words)}, T the trial's seconds, with α, β shifting from {measure}
to time as the search goes on ({weights_text()}), and P the sum of the pruning rules that
fired. That is why the plot shows {plotted}: a reward curve falls as α shrinks
even while the search improves.

**Proposer** is what the PPO policy believes and why it proposed a step. `μ epN` is the
policy's mean action over epoch N's steps, in each hyperparameter's own units; `μ±σ` the
range one standard deviation either side (a wide range: the policy is still exploring).
`state` is the configuration (and previous reward) the step started from, `action` what it
proposed. `chosen` says how: the policy's candidates (and on some steps uniform points) are
screened by expected improvement (EI) under a Gaussian process of every result, whose
estimate ± sd is shown against the incumbent ({estimate}). The reward
is split into its parts, and `update` gives the last policy update's KL, clip fraction,
entropy, mean std and losses. It shows the PPO step selected in the trials table, else the
latest.

**What matters** gives each hyperparameter's share of how the score varies over the
finished search trials (a random forest fitted to them, its variance split per
hyperparameter as fANOVA does; from 8 trials on, recomputed as trials finish). Beside it,
the score of every trial against the selected hyperparameter's value: `x` a trial of the
current space, `o` one drawn under an older space version, the vertical lines the current
range (a log axis for log ranges; categories side by side).
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "close")]

    def __init__(self, words: MetricWords = ACCURACY_WORDS) -> None:
        super().__init__()
        self.words = words  # the run's metric

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help"):
            yield Markdown(help_text(self.words))

    def action_close(self) -> None:
        self.dismiss(None)
