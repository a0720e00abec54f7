"""The coordinators' notebooks in the study folder: ``coordinator.ipynb`` and ``adjudication.ipynb``.

``hub init`` writes them once (never over a coordinator's edited copy); they open in the
coordinators' JupyterLab, whose kernel runs as the coordinator's account in the study folder.
Raters cannot read them (root:coordinators 0660), nor anything they show.

Examples
--------
>>> import tempfile
>>> from covsev_tools.hub.study import Study
>>> study = Study.new(tempfile.mkdtemp(), name="pilot")
>>> sorted(p.name for p in write_coordinator_notebooks(study))
['adjudication.ipynb', 'coordinator.ipynb']
"""
from __future__ import annotations

from pathlib import Path

from covsev_tools.files import write_text_atomic
from covsev_tools.hub.study import Study

__all__ = ["ADJUDICATION_NOTEBOOK", "COORDINATOR_NOTEBOOK", "write_coordinator_notebooks"]

COORDINATOR_NOTEBOOK = "coordinator.ipynb"
ADJUDICATION_NOTEBOOK = "adjudication.ipynb"

_SETUP = '''import os
from pathlib import Path

os.chdir(os.environ.get("COVSEV_STUDY", "."))  # the study folder (JupyterLab opens there)
COHORT = {cohort!r}  # a cohort of this study: cohorts/<name>/'''

_COORDINATOR = [
    ("markdown", "# Coordinator: {name}\n\nFor the study's coordinators only (it can unblind). Each cell has "
                 "its `covsev` command beside it, for the JupyterLab terminal."),
    ("code", _SETUP),
    ("markdown", "## Accounts, servers, training and progress (counts only)\n`covsev hub status .`"),
    ("code", "from covsev_tools.hub import study_status\n\nstudy_status('.')"),
    ("markdown", "## Training round: MAE against the reference, who passed\n"
                 "`covsev training status training/<set>`; let a rater retry: "
                 "`sudo covsev training retry . RATER`"),
    ("code", "from covsev_tools.scoring import training_status\n\n"
             "for folder in sorted(Path('training').glob('*/')):\n"
             "    display(folder.name, training_status(folder, 'labels'))  # noqa: F821 (IPython's display)"),
    ("markdown", "## Discordant cases (unblinds)\n`covsev adjudicate cohorts/<c>`; adjudicate them in "
                 "`adjudication.ipynb`."),
    ("code", "from covsev_tools.cohort import Cohort\nfrom covsev_tools.scoring import discordant_cases\n\n"
             "discordant_cases(Cohort.load(f'cohorts/{{COHORT}}'), 'labels')"),
    ("markdown", "## Report without a model (unblinds)\nThe study, inter-rater, intra-rater and adjudication "
                 "sections; the model sections follow once `outputs/predictions.csv` exists."),
    ("code", "!covsev report --cohort cohorts/{{COHORT}} --labels-dir labels --out outputs/report"),
]

_ADJUDICATION = [
    ("markdown", "# Adjudication: {name}\n\nRun the cell: the discordant cases of the cohort, every rater's "
                 "scores beside the image, and a consensus with its reason, saved at once "
                 "(`labels/<cohort>/consensus.jsonl`). Coordinators only: the page is not blind."),
    ("code", _SETUP + "\n\nfrom covsev_tools.scoring import launch_adjudication\n\n"
                      "launch_adjudication(f'cohorts/{{COHORT}}', labels_dir='labels')"),
]


def _notebook(cells: list[tuple[str, str]], **values) -> str:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    make = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    notebook.cells = [make[kind](text.format(**values)) for kind, text in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(notebook)


def write_coordinator_notebooks(study: Study) -> list[Path]:
    """Write the coordinators' notebooks into the study folder unless there already; the paths.

    Examples
    --------
    >>> write_coordinator_notebooks(Study.load("/srv/study"))      # doctest: +SKIP
    [PosixPath('/srv/study/coordinator.ipynb'), PosixPath('/srv/study/adjudication.ipynb')]
    """
    cohort = next(iter(sorted(study.settings["cohorts"])), "pilot")
    paths = []
    for name, cells in ((COORDINATOR_NOTEBOOK, _COORDINATOR), (ADJUDICATION_NOTEBOOK, _ADJUDICATION)):
        path = study.dir / name
        if not path.exists():  # a coordinator's edits are theirs
            write_text_atomic(path, _notebook(cells, name=study.name, cohort=cohort))
        paths.append(path)
    return paths
