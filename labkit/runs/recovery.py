"""Recovery: a run folder made to agree with the newest whole training state it holds (after a kill, or what
Google Drive uploaded before a disconnect), or what it held set aside when it holds none."""
import os

from ..errors import CheckpointError
from ..files import atomic_write_bytes, atomic_write_json, discard, drop, jsonable, read_json_file, recover_temp, \
    shown_path, temp_copies
from .compare import diff_text, settings_diff
from .layout import BEST, CONFIG, HISTORY, LOG, RESULT, RUN_FILES, STATE, set_aside
from .read import _best_checkpoint, _model_checkpoint, _read_state_file, quietly, read_config, read_result


def recover_folder(folder):
    """Make the folder agree with the state the run continues from (after a kill, or what Google Drive
    uploaded before a disconnect): last.pth the newest whole state, best_model.pth its best epoch (rewritten
    from the state, which holds the best weights), history.json, log.txt and config.json as it records them,
    a result.json of no use removed, temporary files removed. A folder without a whole state has what it
    held set aside into earlier-k/ (nothing is deleted) and starts at epoch 1. No file is touched that
    already agrees; a read-only folder (only a finished run gets here) is not touched at all."""
    path = folder.path
    if path is None or not os.path.isdir(path) or folder.read_only:
        return
    if folder.finished:
        return _recover_finished(folder)
    if folder.lost is not None:
        moved = set_aside(path)
        folder.notes.append(f"resume=True: {shown_path(path)} held no whole training state ({folder.lost}: on Google "
                            f"Drive, its last.pth had not reached the cloud before a disconnect); what it held is "
                            f"now in {shown_path(moved)}, nothing deleted. Starting it at epoch 1.")
        return
    st = folder.state
    if st is None:  # no epoch was committed: what the folder holds belongs to an epoch 1 that never finished
        _discard_temps(path)
        if os.path.isfile(os.path.join(path, LOG)):
            os.truncate(os.path.join(path, LOG), 0)
        return
    if st.get("model") is not None:
        _newest_state_in_place(path, st["epoch"])
    recover_temp(os.path.join(path, BEST), lambda f: _model_checkpoint(f) is not None)  # the copy read above
    _discard_temps(path)
    if folder.best_on_disk != st["best_epoch"]:  # killed before its write, or Drive holds another version
        folder.save_best(folder.best_weights, st)
        folder.notes.append(f"best_model.pth was missing, unreadable or of another epoch; rewritten from last.pth "
                            f"(epoch {st['best_epoch']}, its best)")
    _make_log(path, st.get("log"), None if folder.finished else st.get("log_bytes"))
    _make_json(path, HISTORY, st["history"])
    _rewrite_config(folder, st.get("config"))
    if os.path.isfile(os.path.join(path, RESULT)):
        discard(os.path.join(path, RESULT))  # empty, of another shape, or of an earlier test: measured again


def _recover_finished(folder):
    """A finished run's files as its result.json records them (log.txt cut by a kill or an older version
    on Drive: rewritten whole); a last.pth still there (a kill just before it was dropped) dropped."""
    done = folder.done
    recover_temp(os.path.join(folder.path, BEST), lambda f: _model_checkpoint(f) is not None)
    _discard_temps(folder.path)
    if "history" in (quietly(read_result, folder.path) or {}):  # result.json holds all a reload needs
        drop(os.path.join(folder.path, STATE))
    _make_log(folder.path, done.get("log"), None)
    _make_json(folder.path, HISTORY, done["history"])
    _rewrite_config(folder, done.get("config"))


def _rewrite_config(folder, record):
    if not isinstance(record, dict):
        return
    on_disk = quietly(read_config, folder.path)
    if on_disk == record:
        return
    atomic_write_json(os.path.join(folder.path, CONFIG), record)
    if not isinstance(on_disk, dict):
        folder.notes.append("config.json was missing or unreadable but last.pth records what ran: rewritten from it")
    elif changed := settings_diff(on_disk, record):
        folder.notes.append(f"config.json said {diff_text([(k, a, b) for k, a, b in changed])} but last.pth records "
                            "what ran: rewritten from last.pth")
    # else only the record of a start killed before its first epoch differs (its labkit version, start time):
    # no setting trained under it, so nothing to tell


def _best_weights(state, path, best_on_disk):
    """The weights of ``state``'s best epoch: its own, the copy it holds, or (a state from before labkit kept
    that copy) best_model.pth when it holds that epoch; None when they are nowhere."""
    if state["best_epoch"] == state["epoch"]:
        return state["model"]
    if isinstance(state.get("best_model"), dict):
        return state["best_model"]
    if best_on_disk == state["best_epoch"]:
        return _best_checkpoint(path)[1]["state_dict"]
    return None


def _newest_state_in_place(path, epoch):
    """Put the whole copy of the state of ``epoch`` (a temporary copy a kill or Drive left) at last.pth."""
    file = os.path.join(path, STATE)
    if os.path.isfile(file) and (_read_state_file(file, record_only=True) or {}).get("epoch") == epoch:
        return
    for tmp in reversed(temp_copies(file)):
        if (_read_state_file(tmp, record_only=True) or {}).get("epoch") == epoch:
            os.replace(tmp, file)
            return


def _discard_temps(path):
    for name in RUN_FILES:
        for tmp in temp_copies(os.path.join(path, name)):
            discard(tmp)


def _make_log(path, text, log_bytes):
    """log.txt as ``text`` (the log a state or result records); for states without it, cut to ``log_bytes``."""
    log = os.path.join(path, LOG)
    have = b""
    if os.path.isfile(log):
        with open(log, "rb") as f:
            have = f.read()
    if isinstance(text, str):
        want = text.encode("utf-8")
        if have.startswith(want) and len(have) > len(want):
            os.truncate(log, len(want))  # the lines of an epoch that was not committed
        elif have != want:
            atomic_write_bytes(log, want)  # a line cut by a kill, or an older version of it on Drive
    elif isinstance(log_bytes, int) and len(have) > log_bytes:
        os.truncate(log, log_bytes)


def _make_json(path, name, obj):
    try:
        have = read_json_file(os.path.join(path, name), name, "")
    except CheckpointError:
        have = None
    if have != jsonable(obj):
        atomic_write_json(os.path.join(path, name), obj)
