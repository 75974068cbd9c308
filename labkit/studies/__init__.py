"""The labs' studies, each a set of named variants run by :mod:`labkit.experiments`: task 2's ablations
(:mod:`.ablations`), the ResNet depth study (:mod:`.depth`), the pretrained-vs-scratch transfer study
(:mod:`.transfer`)."""
from .ablations import ABLATIONS, LR_VALUES, SCHEDULERS, ablation_variants, run_ablations
from .depth import (DEPTHS, KIND_TITLES, KINDS, PAPER_EPOCHS, PAPER_MILESTONES, PAPER_TEST_ERROR, PAPER_WARMUP,
                    degradation_panels, depth_variants, paper_recipe, run_depth_study, scale_milestones)
from .transfer import TransferStudy, demo_settings, plan_study, run_transfer_study
