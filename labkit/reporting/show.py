"""Showing a figure, a table or Markdown in the notebook (plain Python: the text printed, figures closed)."""
import matplotlib.pyplot as plt

try:  # IPython is optional: in plain Python the tables still work, figures are saved and text printed
    from IPython import get_ipython
    from IPython.display import Markdown, display
except ImportError:
    get_ipython = Markdown = display = None

REPORT_FIGSIZE = (10, 4.8)
# the report's curves: about a third of a page each, so a figure follows its text; WIDE: the four panels in a row
WIDE_FIGSIZE = (12, 3.4)


def _display(obj):
    """Show a figure / table / Markdown in the notebook (figures closed afterwards, so it appears once)."""
    shell = get_ipython() if get_ipython else None  # None: plain Python, nothing to show into
    is_fig = hasattr(obj, "savefig")
    if shell is not None:
        display(obj)
    elif not is_fig:
        print(getattr(obj, "data", obj))  # Markdown objects: their text
    if is_fig:
        plt.close(obj)


def show(obj):
    """Display a DataFrame, Markdown text or matplotlib Figure in the notebook."""
    if isinstance(obj, str) and Markdown:
        obj = Markdown(obj)
    _display(obj)
