"""A run's folder, and nothing else: the one package that names its files, writes them, reads them back,
finds runs and judges whether a folder can be continued (its resume check and its recovery); what is trained,
and how, is :func:`labkit.train.fit`'s. Its modules, each imported only by those after it:

    layout     the files' names, path_of, a new run's folder, earlier-k/
    compare    the resume check: settings_diff (RESUME_KEYS, the teacher, the data by content)
    read       reading a folder back: record, training state, history, result, log, best checkpoint
    find       which folders are runs, their status, the latest run, the run resume=True continues
    result     RunResult and load_run
    lock       RunLock: one process per run folder
    recovery   a folder made to agree with its newest whole training state
    folder     RunFolder: the folder of one fit call, opened, examined, written epoch by epoch, finished

    config.json           the run's record: every setting, the data (split sizes, normalization, a digest of
                          its content), device and precision, when it started
    last.pth              the training state after the last finished epoch: the commit point of every epoch
                          and the record of what ran (weights, optimizer, schedule, scaler, random state,
                          history, best epoch, the record above, the length of log.txt)
    history.json          one entry per finished epoch (what last.pth holds, as JSON)
    best_model.pth        the best epoch's weights (labkit.load_model reads it)
    result.json           test accuracy, per-class accuracy, confusion matrix (when finished)
    log.txt               the printed lines (and a last "Stopped: ..." line if the run diverged)
    curves.png, confusion_matrix.png, real_check.json: figures and checks made from the run later
    .lock                 while a process trains the run (a second process is refused)
    (last.pth is dropped when the run finishes: result.json then also holds the history, record and log)

**One commit point per epoch.** An epoch's lines are appended to log.txt; then last.pth is replaced
(atomically, never emptied or cut first: that is the commit); then, if the epoch is the best so far,
best_model.pth; then history.json. last.pth is self-sufficient: it also holds the best epoch's weights (when
they are not its own) and log.txt's text. A kill at any byte of any of these writes leaves a run that resumes
exactly: the next call takes the newest whole state (last.pth, or a complete temporary copy), rewrites
best_model.pth from it when that file is of another epoch, makes history.json, log.txt and config.json say
what it says, and removes temporary files. A finished run writes its last lines, then result.json (with its
whole history, record and log), then drops last.pth: result.json and best_model.pth are the finished run.

**Google Drive** (Colab's runs/): DriveFS uploads each file on its own, later, in any order, so after a lost
VM the cloud holds each file at any version it had reached, or none. Whatever it holds, ``resume=True``
continues from the newest whole training state there (an older best_model.pth or history.json is rewritten
from it, a newer one re-earned exactly), and with none sets what the folder holds aside into earlier-k/ and
starts at epoch 1. A dropped mount, a full or read-only disk stop with :class:`StorageError` naming the fix.

**A run is checked against last.pth, not config.json**: a resume compares the call's settings with the
record inside the training state, and the data by its content digest, not by its path.
"""

from .compare import DATA_PLACES, RECORD_DEFAULTS, RESUME_KEYS, TEACHER_KEYS, diff_text, settings_diff
from .find import epochs_done, find_resume_path, find_runs, is_run, latest_run, run_status, runs_below, runs_of
from .folder import RunFolder, cannot_continue
from .layout import (BEST, CONFIG, CURVES, EARNED, EPOCH_KEYS, EXTRA, HISTORY, LOCK, LOG, RESULT, RUN_FILES, STATE,
                     best_entry, new_run_dir, next_earlier, path_of, set_aside)
from .lock import RunLock
from .read import (RECORD_KEYS, finished_record, read_config, read_history, read_result, read_state, replay_log,
                   run_record, stop_line)
from .recovery import recover_folder
from .result import RunResult, load_run
