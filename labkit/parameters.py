"""A notebook's parameters, read back from its parameter cell: typed once, in that cell, and nowhere else.

Every lab notebook has one cell tagged ``parameters`` whose first line starts with :data:`MARK`; papermill
runs its ``-p name value`` as a cell of its own right after it (first line ``# Parameters``). The cell after
those calls :func:`notebook_parameters`, which finds both in the kernel's input history, so that

- every name the parameter cell assigns is collected with its current value (a value papermill passed
  included), in the cell's order, without the notebook typing a name twice;
- a name papermill passed that the parameter cell does not have (``-p learning_rate 0.1`` for ``lr``) stops
  the notebook, naming the closest parameter, instead of being ignored;
- every value is checked by its declaration (the training and data settings of labkit.config, the notebooks' own
  options of :class:`NotebookOptions`) before anything is downloaded or trained.

The :class:`Params` it returns is a dict with ``of(function)`` (the parameters a labkit function takes).
"""
import ast
import difflib
import inspect
from dataclasses import dataclass, fields

from . import config
from .config import DataConfig, as_int, as_list, check_run_location, declared, document, flag, setting
from .errors import ConfigError
from .models import check_model_name

MARK = "# Parameters (papermill"   # the first line of every lab notebook's parameter cell
INJECTED = "# Parameters\n"        # the first line of the cell papermill injects after it
PLACEHOLDER_MODEL = "simplecnn"     # checks the training settings of notebooks that pick models otherwise


def listed(item):
    """A list check (papermill may pass a list as text: "[20, 56]"); None stays None."""
    return lambda name, v: None if v is None else as_list(name, v, item)


def at_least(lo):
    return lambda name, v: as_int(name, v, lo)


def _models(name, value):
    value = listed(str)(name, value)
    for m in value or []:
        check_model_name(m)
    return value


def _teacher_model(name, value):
    if value:  # task 1's distillation teacher
        check_model_name(value)
    return value


@document
@dataclass
class NotebookOptions:
    """The lab notebooks' own parameters (beside :class:`labkit.config.TrainConfig`'s and
    :class:`labkit.config.DataConfig`'s), declared like theirs; the defaults are the notebooks'. The options:"""

    download: bool = setting(True, "download CIFAR-10 into data_root if it is missing", check=flag,
                             hint="False: fail with a clear message instead of downloading")
    models: list = setting(None, "the models a study trains", check=_models, hint="")
    depths: list = setting(None, "the depth study's depths", check=listed(int), hint="")
    preact_depths: list = setting(None, "the depths of the pre-activation bonus", check=listed(int), hint="")
    kinds: list = setting(None, "the depth study's kinds of net (plain, resnet)", check=listed(str), hint="")
    ablations: list = setting(None, "task 2's studies", check=listed(str), hint="")
    lr_values: list = setting(None, "task 2's learning-rate study", check=listed(float), hint="")
    schedulers: list = setting(None, "task 2's schedule study", check=listed(str), hint="")
    teacher_model: str = setting(None, "task 1's distillation teacher, trained first", check=_teacher_model, hint="")
    teacher_epochs: int = setting(30, "the teacher's epochs", unit="epochs", check=at_least(1), hint="")
    image_size: int = setting(224, "the transfer models' input size", unit="pixels", check=at_least(1), hint="")
    num_workers: int = setting(2, "data-loading processes (transfer lab)", check=at_least(0), hint="")
    minority_repeat: int = setting(2, "how often minority images are repeated (transfer lab)", check=at_least(1),
                                   hint="")
    run_dir: str = setting("runs", "the folder runs are written to (checked with run_name and experiment)",
                           hint="in Colab runs/ links to Google Drive (the setup cell's runs_on_drive)")
    run_name: str = setting(None, "the run's folder in run_dir", hint="None: a new folder runs/<model>-<date>-<time>")
    experiment: str = setting(None, "a study's folder in run_dir", hint="")
    progress: bool = setting(True, "a progress bar inside each epoch", check=flag,
                             hint="tqdm bar inside each epoch")
    resume: bool = setting(True, "reuse finished runs, continue an interrupted one", check=flag,
                           hint="reuse finished runs, continue an interrupted one")
    start_over: bool = setting(False, "with resume: a run that cannot continue trains again", check=flag,
                               hint="with resume: a run that cannot continue (last.pth lost) trains again; old files "
                                    "kept")


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
        return {k: v for k, v in self.items() if k in config.TrainConfig.field_names() and k != "model"}

    def of(self, *functions, train=False):
        """The parameters the named arguments of ``functions`` take (``train``: and the training settings)."""
        names = {n for f in functions for n in inspect.signature(f).parameters}
        picked = {k: v for k, v in self.items() if k in names}
        return {**picked, **self.train()} if train else picked

    def without(self, *names):
        return {k: v for k, v in self.items() if k not in names}

    def check(self):
        """Every value checked by its declaration (a ConfigError names the first bad one) and made canonical where
        labkit has a canonical form (numbers from papermill text, scheduler aliases...): the notebook's options
        (:class:`NotebookOptions`), the run folder, the training settings (:class:`labkit.config.TrainConfig`), the
        data settings (:class:`labkit.config.DataConfig`)."""
        if "model" in self:
            check_model_name(self["model"])
        for name, s, _ in declared(NotebookOptions, lambda s: s.check is not None):
            if name in self:
                self[name] = s.check(name, self[name])
        self._check_run_location()
        cfg = config.TrainConfig.from_params(self.get("model") or PLACEHOLDER_MODEL, self.train())
        for k in self.train():
            self[k] = getattr(cfg, k)
        data = {f.name: self[f.name] for f in fields(DataConfig) if f.name in self}
        if data:
            checked = config.check_data_params(**data)
            self.update({k: checked[k] for k in data if k not in ("limit", "test_limit")})
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
