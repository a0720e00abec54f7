"""The training round's parts of the scoring page: banner, feedback, summary, and the gate that
runs the round before a study that requires it."""
from __future__ import annotations

import ipywidgets as W

from covsev_tools.scoring.render import banner_html, feedback_html
from covsev_tools.scoring.training import TrainingSet

BANNER = banner_html("training", "TRAINING ROUND — not part of the study: after each case you see "
                                 "the reference scores")


def refresh_feedback(page) -> None:
    """After a saved training case: the rater's scores beside the reference (else nothing).

    Examples
    --------
    >>> refresh_feedback(ScoringApp("training/calib", "rad1"))   # doctest: +SKIP
    """
    session = page.session
    rows = session.feedback() if not session.dirty else []
    page.feedback.value = feedback_html(rows, page.scales)
    if session.training:
        page.save_button.description = "Next case (Enter)" if rows else "Save and see the reference (Enter)"
        # one way on while the reference is shown, not two buttons that both say "next"
        page.next_button.layout.display = "none" if rows else None


def round_summary(page) -> dict | None:
    """End of a training round: MAE per component, cases furthest off, threshold met or not.

    Examples
    --------
    >>> round_summary(page)["result"]["passed"]   # doctest: +SKIP
    True
    """
    if not page.training_set:
        return None
    session = page.session
    summary = page.training_set.reference.summary(session.order, page.training_set.first_readings(
        session.rater, page.labels_dir))
    summary["result"] = page.training_set.result(session.rater, page.labels_dir, page.max_mae)
    return summary


def passed(requirement: dict, rater: str, labels_dir) -> bool:
    """True when ``rater`` met the study's training requirement.

    Examples
    --------
    >>> passed({"training_set": "training/calib", "max_mae": 1.5}, "rad1", "labels")  # doctest: +SKIP
    False
    """
    training = TrainingSet.load(requirement["training_set"])
    return training.result(rater, labels_dir, requirement["max_mae"])["passed"]


def show_gate(page, requirement: dict, rater: str):
    """Replace the study page by its training round; a passed round opens the study.

    Returns the training round's page.

    Examples
    --------
    >>> trainer = show_gate(page, training_requirement("cohorts/pilot"), "rad1")  # doctest: +SKIP
    """
    trainer = type(page)(requirement["training_set"], rater, page.labels_dir,
                         on_passed=lambda: page.start(rater), max_mae=requirement["max_mae"])
    # one banner and one "Log out" (the study page's), so the image keeps the screen's height
    trainer.banner.value = banner_html("training", "TRAINING ROUND — not part of the study: after each case "
                                       "you see the reference scores. The study opens after a passed round "
                                       f"(mean absolute error of each total at most {requirement['max_mae']:g}).")
    trainer.logout.value = ""
    page.gate_box.children = (trainer.widget,)
    page.widget.children = (page.widget.children[0], page.gate_box)
    return trainer
