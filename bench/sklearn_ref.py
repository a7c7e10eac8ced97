"""sklearn_ref.py -- the reference for bench-learn's speed figures:
scikit-learn's SGDClassifier (logistic loss, constant rate 0.01, no
penalty: the configuration of weir's one-candidate case) trained with
partial_fit one row at a time and in mini-batches of 256 rows, on 8
standard-normal features with a linear concept and 10 % label noise (the
same distribution as bench_learn's rows).

Only partial_fit is timed: no scaling, no prediction, no metrics, so the
reference does less work per row than weir's learner_update (which predicts,
scores, updates a scaler, two baselines, windows and a drift detector).
Rates are rows per CPU-second of this process (time.process_time), best of
3, so that other tenants of a shared host do not count; BLAS is kept to one
thread. Prints RESULT lines; bench/learn.sh turns them into ratios.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.linear_model import SGDClassifier  # noqa: E402

FEATURES = 8


def make(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, FEATURES))
    y = (x @ np.arange(1, FEATURES + 1) > 0) != (rng.random(n) < 0.1)
    return x, y.astype(np.int64)


def model():
    return SGDClassifier(loss="log_loss", learning_rate="constant",
                         eta0=0.01, alpha=0.0)


def rate(x, y, batch):
    clf = model()
    classes = np.array([0, 1])
    t = time.process_time()
    for i in range(0, len(y), batch):
        clf.partial_fit(x[i:i + batch], y[i:i + batch], classes=classes)
    return len(y) / (time.process_time() - t), clf


def best(x, y, batch):
    runs = [rate(x, y, batch) for _ in range(3)]
    r, clf = max(runs, key=lambda t: t[0])
    return r, clf.score(x, y)


def main():
    warnings.simplefilter("ignore")
    import sklearn
    n_row, n_batch = 6000, 600_000
    x, y = make(n_row, 1)
    per_row, acc1 = best(x, y, 1)
    x, y = make(n_batch, 2)
    batch, acc2 = best(x, y, 256)
    print(f"RESULT sklearn_speed mode=per_row rows_per_s={per_row:.0f} "
          f"rows={n_row} accuracy={acc1:.4f} sklearn={sklearn.__version__}")
    print(f"RESULT sklearn_speed mode=batch256 rows_per_s={batch:.0f} "
          f"rows={n_batch} accuracy={acc2:.4f} sklearn={sklearn.__version__}")


if __name__ == "__main__":
    main()
