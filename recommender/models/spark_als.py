"""ALS fitted by Spark MLlib (``als.trainer = "spark"``): the same model as implicit's,
for data no single machine holds.

:func:`fit_factors` hands the confidence matrix to ``pyspark.ml.recommendation.ALS``
(``implicitPrefs=True``) through Arrow and brings the user and title factors back in
the matrix's row and column order; :class:`~recommender.models.factors.Als` wraps them,
so saving, loading, ranking and evaluation do not know which trainer fitted them.

Both trainers solve the confidence-weighted least squares of Hu, Koren and Volinsky,
``(YᵀY + Yᵀ(C_u - I)Y + reg_u·I) x_u = YᵀC_u p_u``, and differ in two places:

* **confidence.** implicit takes a stored value as the confidence ``c`` itself
  (unwatched pairs 1); MLlib takes a rating ``r`` and uses ``c = 1 + alpha·r``. The
  matrix already holds ``1 + alpha·max(strength, floor)``, so MLlib gets ``r = c - 1``
  with ``alpha = 1``: the same ``c``, hence the same normal equations. (A pair of
  confidence exactly 1, only when ``confidence.alpha = 0``, gets ``r = 1e-6``: MLlib
  reads ``r = 0`` as not watched.)
* **regularisation.** implicit adds ``regularization`` (λ) to every user and title
  alike; MLlib's ALS-WR adds ``regParam·n``, n the user's (or title's) watched pairs.
  No single regParam gives both; the trainer uses

      regParam = λ / √(n̄_users · n̄_titles)

  where n̄_users and n̄_titles are the mean pairs per user and per title that have
  any: the geometric mean of the two sides' means. The factors' scale is free
  (``x·s``, ``y/s`` score the same), so what shapes the solution is the product of
  the two sides' penalties, and this mapping makes MLlib's typical product equal to
  implicit's λ². Measured with bench/trainers.py (planted tastes, 16 factors, 15
  iterations; precision@10 of held-out pairs, implicit's in brackets): at 200,000
  users x 5,800 titles and λ = 30 this mapping gave 0.0376 (0.0353), λ / n̄_titles
  0.0358, and λ / n̄_users 0.0001 (it over-regularises the titles, 263 pairs each,
  to nothing); at 20,000 users and λ = 3 the three gave 0.0370, 0.0368 and 0.0376
  (0.0364).

MLlib's solver is exact (Cholesky) where implicit's default takes three conjugate
gradient steps, so the two give close but not equal factors.

The SparkSession is the process's one (:func:`recdb.core.spark.session`:
``RECDB_SPARK_MASTER``, ``RECDB_SPARK_DRIVER_MEMORY``); pyspark is the optional
``spark`` extra and is imported only here, when this trainer runs.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import time
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from recdb.core.errors import EngineError
from recommender.errors import RecommenderError

if TYPE_CHECKING:
    import pyarrow as pa

    from recommender.models.factors import AlsConfig

logger = logging.getLogger(__name__)

#: MLlib reads a rating of 0 as "not watched": a watched pair's excess confidence is at
#: least this.
MIN_RATING = 1e-6
USER, TITLE, RATING = "user", "title", "rating"


def mllib_reg_param(confidence: sp.csr_matrix, regularization: float) -> float:
    """MLlib's regParam for implicit's ``regularization`` on ``confidence`` (see the
    module's docstring): λ over the geometric mean of the mean pairs per user and per
    title (those with any)."""
    pairs = confidence.nnz
    if pairs == 0:
        return regularization
    users = int(np.count_nonzero(np.diff(confidence.indptr)))
    titles = len(np.unique(confidence.indices))
    return regularization / math.sqrt((pairs / users) * (pairs / titles))


def _pairs(confidence: sp.csr_matrix) -> pa.Table:
    """(user row, title column, confidence - 1) of every stored pair, as Arrow."""
    import pyarrow as pa

    coo = confidence.tocoo()
    rating = np.maximum(coo.data.astype(np.float32) - 1.0, MIN_RATING).astype(np.float32)
    return pa.table(
        {
            USER: pa.array(coo.row.astype(np.int32)),
            TITLE: pa.array(coo.col.astype(np.int32)),
            RATING: pa.array(rating),
        }
    )


def _dense(factors: pa.Table, count: int, rank: int) -> np.ndarray:
    """MLlib's (id, features) rows as a count x rank array in id order; ids it has no
    row for (no pairs) stay zero, as implicit leaves them."""
    import pyarrow as pa

    out = np.zeros((count, rank), dtype=np.float32)
    if factors.num_rows == 0:
        return out
    ids = factors.column("id").to_numpy()
    features = pa.concat_arrays(factors.column("features").chunks)
    values = features.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    out[ids] = values.reshape(len(ids), rank)
    return out


def _spark_session():  # noqa: ANN202 (pyspark's type is imported only when it is there)
    """The process's SparkSession, or RecommenderError saying what is missing."""
    if importlib.util.find_spec("pyspark") is None:
        raise RecommenderError(
            'als.trainer = "spark" needs pyspark: install the spark extra with '
            "`pip install -e '.[spark]'` (Java 17 or later must be on the PATH), "
            'or set als.trainer = "implicit"'
        )
    from recdb.core import spark

    try:
        return spark.session()
    except EngineError as error:
        raise RecommenderError(f'als.trainer = "spark": {error}') from None


def fit_factors(
    confidence: sp.csr_matrix, config: AlsConfig, *, reg_param: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(user factors, title factors) of MLlib's implicit-feedback ALS on ``confidence``
    (users x titles), in its row and column order, float32.

    ``reg_param``: MLlib's regParam (default: :func:`mllib_reg_param` of the config's
    regularization; bench/trainers.py tries others).

    The same seed, data and Spark parallelism give the same factors: bit for bit on
    local[2]; with more blocks up to float rounding (MLlib sums the Gram matrix over the
    blocks in the order their tasks end).
    """
    spark = _spark_session()  # first: it says so when pyspark is missing
    from pyspark.ml.recommendation import ALS

    users, titles = confidence.shape
    if reg_param is None:
        reg_param = mllib_reg_param(confidence, config.regularization)
    # A block per core: MLlib's default of ten is slower on a small master, and on a
    # cluster the default parallelism is its cores.
    blocks = max(1, spark.sparkContext.defaultParallelism)
    logger.info(
        "Spark ALS: %d users x %d titles, %d pairs, %d blocks, regParam %.4g (regularization %.4g)",
        users,
        titles,
        confidence.nnz,
        blocks,
        reg_param,
        config.regularization,
    )
    started = time.perf_counter()
    frame = spark.createDataFrame(_pairs(confidence))
    als = ALS(
        rank=config.factors,
        maxIter=config.iterations,
        regParam=reg_param,
        implicitPrefs=True,
        alpha=1.0,  # the ratings are confidence - 1: MLlib's 1 + alpha * r gives it back
        seed=config.seed,
        userCol=USER,
        itemCol=TITLE,
        ratingCol=RATING,
        numUserBlocks=blocks,
        numItemBlocks=blocks,
        coldStartStrategy="drop",
        nonnegative=False,
    )
    model = als.fit(frame)
    user_factors = _dense(model.userFactors.toArrow(), users, config.factors)
    item_factors = _dense(model.itemFactors.toArrow(), titles, config.factors)
    logger.info("Spark ALS fitted in %.1f s", time.perf_counter() - started)
    return user_factors, item_factors
