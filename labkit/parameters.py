"""A notebook's parameters, read back from its parameter cell: typed once, in that cell, and nowhere else.

Every lab notebook has one cell tagged ``parameters`` whose first line starts with :data:`MARK`; papermill
runs its ``-p name value`` as a cell of its own right after it (first line ``# Parameters``). The cell after
those calls :func:`notebook_parameters`, which finds both in the kernel's input history, so that

- every name the parameter cell assigns is collected with its current value (a value papermill passed
  included), in the cell's order, without the notebook typing a name twice;
- a name papermill passed that the parameter cell does not have (``-p learning_rate 0.1`` for ``lr``) stops
  the notebook, naming the closest parameter, instead of being ignored;
- every value is checked (the training settings, the data settings, the yes/no switches) before anything is
  downloaded or trained.

The :class:`Params` it returns is a dict with ``of(function)`` (the parameters a labkit function takes).
"""
import ast
import difflib
import inspect

from .config import TrainConfig, as_bool, as_int, as_list, check_data_params, check_run_location
from .errors import ConfigError
from .models import check_model_name

MARK = "# Parameters (papermill"   # the first line of every lab notebook's parameter cell
INJECTED = "# Parameters\n"        # the first line of the cell papermill injects after it
FLAGS = ("download", "resume", "start_over", "progress")
LISTS = {"models": str, "depths": int, "preact_depths": int, "kinds": str, "ablations": str, "lr_values": float,
         "schedulers": str}
INTS = {"teacher_epochs": 1, "image_size": 1, "num_workers": 0, "minority_repeat": 1}  # other whole numbers: minimum
PLACEHOLDER_MODEL = "simplecnn"     # checks the training settings of notebooks that pick models otherwise


def _assigned(source):
    """The top-level names a cell assigns, in order."""
    names = []
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        for t in targets:
            for n in ast.walk(t):
                if isinstance(n, ast.Name) and n.id not in names:
                    names.append(n.id)
    return names


# names people type for labkit's parameters (from PyTorch tutorials and other trainers)
SYNONYMS = {"learning_rate": "lr", "base_lr": "lr", "num_epochs": "epochs", "n_epochs": "epochs", "epoch": "epochs",
            "bs": "batch_size", "batchsize": "batch_size", "wd": "weight_decay", "optim": "optimizer",
            "lr_scheduler": "scheduler", "schedule": "scheduler", "data_dir": "data_root", "data_path": "data_root",
            "dataset_dir": "data_root", "root": "data_root", "out_dir": "run_dir", "output_dir": "run_dir",
            "augmentation": "augment", "aug": "augment", "arch": "model", "net": "model"}


def _closest(name, declared):
    """The declared parameter ``name`` was most likely meant for, or None."""
    if SYNONYMS.get(name.lower()) in declared:
        return SYNONYMS[name.lower()]
    close = difflib.get_close_matches(name, declared, 1, cutoff=0.6)
    return close[0] if close else None


_SEEN = []  # every cell the kernel ran since labkit was imported, in order (see watch_cells)


def _shell():
    try:
        from IPython import get_ipython  # only in a notebook kernel
    except ImportError:
        return None
    return get_ipython()


def watch_cells():
    """Keep the source of every cell the kernel runs from now on (an IPython pre-run hook: it sees cells run
    without a history too, as nbval runs them). labkit.notebook does it when the setup cell imports it."""
    shell = _shell()
    if shell is not None and not getattr(shell, "_labkit_watching", False):
        shell.events.register("pre_run_cell", lambda info: _SEEN.append(info.raw_cell or ""))
        shell._labkit_watching = True


def _cells():
    """The kernel's executed cells, oldest first."""
    shell = _shell()
    if shell is None:
        raise ConfigError("notebook_parameters() reads a notebook's parameter cell: call it in a notebook (Jupyter, "
                          "Colab, papermill), after that cell.")
    history = [c for c in shell.user_ns.get("In", []) if isinstance(c, str)]
    return shell, (_SEEN if any(c.lstrip().startswith(MARK) for c in _SEEN) else history)


def notebook_parameters(verbose=True):
    """The notebook's parameters (see the module's docstring), checked; prints them in one line."""
    shell, cells = _cells()
    mine = [i for i, c in enumerate(cells) if c.lstrip().startswith(MARK)]
    if not mine:
        raise ConfigError(f"no parameter cell has run in this notebook (a cell whose first line starts with "
                          f"{MARK!r}): run the notebook from the top (Run all).")
    declared = _assigned(cells[mine[-1]])
    passed = [n for c in cells[mine[-1] + 1:] if c.startswith(INJECTED) for n in _assigned(c)]
    unknown = [n for n in passed if n not in declared]
    if unknown:
        hints = [f"{n!r}" + (f" (did you mean {close!r}?)" if (close := _closest(n, declared)) else "")
                 for n in unknown]
        raise ConfigError(f"papermill passed parameter(s) {', '.join(hints)} that this notebook does not have, so "
                          f"they would be ignored. Its parameters: {', '.join(declared)}.")
    params = Params({n: shell.user_ns[n] for n in declared})
    params.check()
    if verbose:
        print("parameters OK: " + ", ".join(f"{k}={v!r}" for k, v in params.in_order().items()))
    return params


class Params(dict):
    """A notebook's parameters by name (in the parameter cell's order)."""

    def train(self):
        """The training settings among them (:class:`labkit.config.TrainConfig` fields)."""
        return {k: v for k, v in self.items() if k in TrainConfig.field_names() and k != "model"}

    def of(self, *functions, train=False):
        """The parameters the named arguments of ``functions`` take (``train``: and the training settings)."""
        names = {n for f in functions for n in inspect.signature(f).parameters}
        picked = {k: v for k, v in self.items() if k in names}
        return {**picked, **self.train()} if train else picked

    def without(self, *names):
        return {k: v for k, v in self.items() if k not in names}

    def check(self):
        """Every value checked (a ConfigError names the first bad one) and made canonical where labkit has a
        canonical form (numbers from papermill text, scheduler aliases...)."""
        if "model" in self:
            check_model_name(self["model"])
        for name, item in LISTS.items():  # papermill may pass a list as text: "[20, 56]"
            if name in self and self[name] is not None:
                self[name] = as_list(name, self[name], item)
        for m in self.get("models") or []:
            check_model_name(m)
        if self.get("teacher_model"):  # task 1's distillation teacher
            check_model_name(self["teacher_model"])
        for name, lo in INTS.items():
            if name in self:
                self[name] = as_int(name, self[name], lo)
        self._check_run_location()
        cfg = TrainConfig.from_params(self.get("model") or PLACEHOLDER_MODEL, self.train())
        for k in self.train():
            self[k] = getattr(cfg, k)
        data = {k: self[k] for k in inspect.signature(check_data_params).parameters if k in self}
        if data:
            checked = check_data_params(**data)
            self.update({k: checked[k] for k in data if k not in ("limit", "test_limit")})
        for k in FLAGS:
            if k in self:
                self[k] = as_bool(k, self[k])
        return self

    def _check_run_location(self):
        """run_dir, and run_name / experiment (a folder in it), as fit and the studies will check them."""
        if "run_dir" not in self:
            return
        for name in ("run_name", "experiment"):
            if self.get(name) is not None:
                try:
                    self[name] = check_run_location(self["run_dir"], self[name])[1]
                except ConfigError as e:
                    raise ConfigError(str(e).replace("run_name", name)) from None
        check_run_location(self["run_dir"], None)

    def in_order(self):
        """The model first, then the training settings, then the rest (how the check line prints them)."""
        first = {k: self[k] for k in ("model",) if k in self}
        return {**first, **self.train(), **{k: v for k, v in self.items() if k not in first and k not in self.train()}}
