"""The keys and what the panes show."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
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
| `1`-`6` | show trials, trial, accuracy, penalties, trainers, log (small terminals) |
| `o` / `O` | in the trials table: next sort column / reverse order |
| `f` / `F` | in the trials table: show one phase / one status (again: the next) |
| `↑` `↓` `Enter` | pick a trial to see its epochs, reward breakdown and error |
| `Tab` | next pane (small terminals: shows it) |
| `?` | this help (Esc closes) |

**Best** is the finished search trial with the highest **score**, as the store ranks
them (`hptui show`, `hptui export` and every pane here use that one ranking). The score is
the reward under one set of weights for every trial, so early and late trials compare
fairly; it is shown beside the best trial and in the `score` column. The best trial is
marked ★ in the table and @ in the accuracy plot.

**Reward** r = 100·α·acc − 0.1·β·T − P, with α, β shifting from accuracy to time as
the search goes on, and P the sum of the pruning rules that fired. That is why the plot
shows validation accuracy: a reward curve falls as α shrinks even while the search
improves.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help"):
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
