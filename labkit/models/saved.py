"""A trained model on disk: ``save_model`` writes it with its registry name, ``load_model`` rebuilds it."""
from ..errors import CheckpointError, LabkitError
from ..files import MODEL_FORMAT, atomic_torch_save, read_checkpoint
from .registry import get_model
from .weights import load_checked_state_dict, load_state_dict_file, unwrap


MAX_CLASSES = 100_000  # more output classes than any labkit data set has (ImageNet-21k: 21,841)
DAMAGED = "not what labkit writes there: the file was damaged or made by hand, so it was not loaded. Use a " \
          "checkpoint labkit wrote (a run's best_model.pth)."


def checkpoint_num_classes(meta, path):
    """The ``num_classes`` a model checkpoint's metadata ``meta`` gives (None: not given); CheckpointError naming
    the field unless it is a whole number from 1 to :data:`MAX_CLASSES` (it sizes the model built to load it)."""
    n = meta.get("num_classes") if isinstance(meta, dict) else None
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_CLASSES:
        raise CheckpointError(f"model checkpoint {path!r}: its metadata field num_classes is {n!r} (a number of "
                              f"classes is a whole number from 1 to {MAX_CLASSES}), {DAMAGED}")
    return n


def save_model(model, path, model_name=None, model_kwargs=None, **meta):
    """Write ``model`` (a module, or its state dict) with its registry name and ``meta`` (epoch, val_acc...)
    as a labkit model checkpoint (atomically: :func:`labkit.files.atomic_path`)."""
    state = model if isinstance(model, dict) else unwrap(model).state_dict()
    atomic_torch_save({"format": MODEL_FORMAT, "model_name": model_name, "model_kwargs": model_kwargs or {},
                       "state_dict": state, **meta}, path)


def load_model(path, model=None, device="cpu"):
    """Load a labkit ``best_model.pth``: into ``model`` (checked) or into a fresh model
    rebuilt from the registry name stored in the file."""
    obj = read_checkpoint(path, "model checkpoint")
    if not isinstance(obj, dict) or obj.get("format") != MODEL_FORMAT:
        if model is None:
            raise CheckpointError(f"{path!r} is not a labkit model checkpoint; pass the model to load it into.")
        return load_state_dict_file(model, path, "model checkpoint").to(device)
    name = obj.get("model_name")
    if model is None:
        if not name:
            raise CheckpointError(f"{path!r} does not name its model; pass the model to load it into.")
        kwargs = obj.get("model_kwargs") or {}
        if not isinstance(name, str) or not isinstance(kwargs, dict):
            raise CheckpointError(f"model checkpoint {path!r}: its metadata field "
                                  f"{'model_name' if not isinstance(name, str) else 'model_kwargs'} is "
                                  f"{(name if not isinstance(name, str) else kwargs)!r}, {DAMAGED}")
        # "weights" only initialises a model (pretrained download/file); the checkpoint replaces them.
        kwargs = {k: v for k, v in kwargs.items() if k != "weights"}
        num_classes = checkpoint_num_classes(obj, path) or 10
        try:
            model = get_model(name, num_classes=num_classes, **kwargs)
        except (LabkitError, TypeError, ValueError, RuntimeError, OverflowError) as e:
            raise CheckpointError(f"model checkpoint {path!r}: its metadata (model_name {name!r}, model_kwargs "
                                  f"{kwargs!r}) builds no model ({type(e).__name__}: {str(e)[:200]}), "
                                  f"{DAMAGED}") from None
    else:
        mine = getattr(unwrap(model), "labkit_name", None)
        if name and mine and name != mine:
            raise CheckpointError(f"{path!r} holds a '{name}' model, but you are loading it into a '{mine}'. "
                                  f"Build get_model('{name}') instead, or pick the checkpoint of a '{mine}' run.")
    load_checked_state_dict(model, obj["state_dict"], f"model checkpoint {path!r} (model '{name}')")
    return model.to(device)
