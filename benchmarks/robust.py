"""Our attacks against the Adversarial Robustness Toolbox's (ART), side by side in one run.

    python -m benchmarks.robust      # ~20 s on 2 cores; writes benchmarks/robust.json

On the chapter's digits MLP (`aibook.robust.mlp`, trained with the default `TrainConfig`)
and the 360 test digits of `aibook.digits(0)`, as one batch:

- PGD-10: L-inf, eps = 0.1, step eps / 4, one random start; `aibook.robust.pgd` against
  ART's `ProjectedGradientDescent` on a `PyTorchClassifier` of the same model;
- FGSM: L-inf, eps = 0.1; `aibook.robust.fgsm` against ART's `FastGradientMethod`.

Throughput is images per second, 360 / the median time of one attack on the whole set.
numpy's BLAS and torch each run on one thread (like for like). Every number is a median over
alternating rounds after a warm-up (benchmarks/common.py). The record also says whether the
two implementations agree (FGSM bit for bit; PGD from ART's own random start, see
tests/test_robust.py) and the accuracy that is left under each attack.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
from art.estimators.classification import PyTorchClassifier
from art.utils import random_sphere
from torch import nn

from aibook import digits
from aibook.robust import TrainConfig, fgsm, mlp, pgd, train
from benchmarks.common import compare, write_record

REPEATS = 21  # one attack on 360 digits lasts milliseconds: take many rounds
EPS = 0.1
STEPS = 10


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).double().mean().item()


def _throughput(times: dict, n: int) -> dict:
    for record in times.values():
        record["images_per_s"] = n / record["median_s"]
    return times


def measure(repeats: int = REPEATS) -> dict:
    """Timings of both attacks, ours and ART's, plus their agreement and accuracies."""
    split = digits(0)
    model = train(mlp(seed=0), split.X_train, split.y_train, config=TrainConfig(), progress=False)
    X, y = split.X_test, split.y_test
    Xn, yn = X.numpy(), y.numpy()
    clf = PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=(64,),
                            nb_classes=10, clip_values=(0.0, 1.0))
    art_pgd = ProjectedGradientDescent(clf, norm=np.inf, eps=EPS, eps_step=EPS / 4,
                                       max_iter=STEPS, num_random_init=1, batch_size=len(X),
                                       verbose=False)
    art_fgsm = FastGradientMethod(clf, norm=np.inf, eps=EPS, batch_size=len(X))

    def ours_pgd():
        return pgd(model, X, y, EPS, alpha=EPS / 4, steps=STEPS)

    def ours_fgsm():
        return fgsm(model, X, y, EPS)

    race_pgd = compare({"art": lambda: art_pgd.generate(Xn, y=yn), "ours": ours_pgd},
                       repeats=repeats)
    race_fgsm = compare({"art": lambda: art_fgsm.generate(Xn, y=yn), "ours": ours_fgsm},
                        repeats=repeats)

    np.random.seed(0)  # noqa: NPY002  (ART draws its random start from numpy's global generator)
    theirs = art_pgd.generate(Xn, y=yn)
    np.random.seed(0)  # noqa: NPY002
    start = torch.from_numpy(random_sphere(len(X), 64, EPS, np.inf).astype(np.float32))
    same_start = pgd(model, X, y, EPS, alpha=EPS / 4, steps=STEPS, start=start)
    agreement = {
        "fgsm_identical": bool(np.array_equal(ours_fgsm().numpy(), art_fgsm.generate(Xn, y=yn))),
        "pgd_identical_from_the_same_start": bool(np.array_equal(same_start.numpy(), theirs)),
    }
    accuracy = {"clean": _accuracy(model, X, y),
                "fgsm_ours": _accuracy(model, ours_fgsm(), y),
                "fgsm_art": _accuracy(model, torch.from_numpy(art_fgsm.generate(Xn, y=yn)), y),
                "pgd_ours": _accuracy(model, ours_pgd(), y),
                "pgd_art": _accuracy(model, torch.from_numpy(theirs), y)}
    return {"images": len(X), "eps": EPS, "pgd_steps": STEPS, "pgd_step_size": EPS / 4,
            "pgd": _throughput(race_pgd, len(X)), "fgsm": _throughput(race_fgsm, len(X)),
            "agreement": agreement, "accuracy": accuracy}


def main() -> dict:
    record = write_record("robust", lambda: measure(REPEATS), repeats=REPEATS)
    summary = {attack: {name: round(r["images_per_s"]) for name, r in record[attack].items()}
               for attack in ("pgd", "fgsm")}
    print(json.dumps({"images_per_s": summary, "agreement": record["agreement"],
                      "seconds": record["seconds"]}, indent=1))
    return record


if __name__ == "__main__":
    main()
