"""Loading weights into a model: state dicts checked against the model, wrappers unwrapped."""
from ..errors import CheckpointError
from ..files import read_checkpoint


def unwrap(model):
    """The plain module behind torch.compile / DataParallel wrappers."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


def load_checked_state_dict(model, state, source):
    """Load ``state`` into ``model``; a mismatch is summarised (counts and one example) instead of dumped."""
    target = unwrap(model).state_dict()
    missing = [k for k in target if k not in state]
    unexpected = [k for k in state if k not in target]
    shapes = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in target.items()
              if k in state and hasattr(state[k], "shape") and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} parameters missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if shapes:
            k, a, b = shapes[0]
            parts.append(f"{len(shapes)} of another shape (e.g. {k}: {a} in the file, {b} in the model)")
        raise CheckpointError(f"{source} does not fit this model ({type(unwrap(model)).__name__}): "
                              + "; ".join(parts) + ". It was saved from another model or another "
                              "configuration (num_classes, shortcut option...): load it into that model.")
    unwrap(model).load_state_dict(state)
    return model


def load_state_dict_file(model, path, what="weights"):
    """Load a plain state-dict file (or a labkit model checkpoint) into ``model``."""
    obj = read_checkpoint(path, what)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict):
        raise CheckpointError(f"{what} {path!r} holds a {type(obj).__name__}, not a state dict.")
    return load_checked_state_dict(model, state, f"{what} {path!r}")
