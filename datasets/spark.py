"""Apache Spark as the scale-out engine: the ``--engine``/``--master`` options, the session, and
what every Spark task needs to find the workspace and the database.

    with spark.session(args.master) as session:           # local[*], local[2], spark://, yarn, k8s://
        ...session.sparkContext.parallelize(...).mapPartitions(...)...

The default engine stays the single-process one; a command that supports Spark adds both
options with :func:`add_engine_arguments` and checks them with :func:`engine_of`. The session
is quiet (log4j errors only, no console progress, no web UI) and bounds the driver's memory, so
a step that would collect a large result to the driver fails instead of growing without bound.

Python workers run the project's interpreter (``PYSPARK_PYTHON``, default: the one running the
driver) with the checkout on ``PYTHONPATH``; on a cluster both must exist at the same path on
every executor (docs/scale.md). Spark tasks get the database URL and the workspace explicitly
(:class:`WorkerContext`) rather than through the executor's environment: a long-lived session
(tests, a notebook) may serve several databases and workspaces one after the other.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tqdm import tqdm

from datasets import workspace
from datasets.errors import GoldloopError

if TYPE_CHECKING:
    from pyspark import RDD
    from pyspark.sql import SparkSession

T = TypeVar("T")

ENGINES = ("default", "spark")
DEFAULT_MASTER = "local[*]"
#: Driver heap: enough for the label model's bounded fit sample, small enough that collecting a
#: whole data set to the driver fails loudly. ``GOLDLOOP_SPARK_DRIVER_MEMORY`` overrides it.
DRIVER_MEMORY = "1g"
_LOG_CONFIG = Path(__file__).with_name("spark_log4j2.properties")
# local, local[4], local[*], local[4,2] (with task retries), spark://h:7077[,h2:7077], yarn, k8s://https://...
_MASTER = re.compile(r"local(\[(\d+|\*)(,\d+)?\])?|spark://\S+|yarn|k8s://\S+")
# PySpark warns about pandas 3 on every import, in the driver and in each Python worker.
_PANDAS_WARNING = "PySpark does not yet fully support pandas"


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--engine`` and ``--master``, the same way on every command that can run on Spark."""
    parser.add_argument("--engine", choices=ENGINES, default="default",
                        help="default: one Python process; spark: Apache Spark (docs/scale.md)")
    parser.add_argument("--master", default=None, metavar="URL",
                        help=f"Spark master with --engine spark (default {DEFAULT_MASTER}; local[N], "
                             "spark://HOST:PORT, yarn and k8s://... are passed to Spark unchanged)")


def engine_of(args: argparse.Namespace) -> str | None:
    """The Spark master to run on, or None for the default engine; refuses a ``--master``
    without ``--engine spark`` and a master Spark does not know, naming the option."""
    if args.engine != "spark":
        if args.master is not None:
            raise GoldloopError("--master needs --engine spark")
        return None
    return check_master(args.master or DEFAULT_MASTER)


def check_master(master: str) -> str:
    """``master`` when it has one of the forms Spark accepts, else a ``GoldloopError`` naming ``--master``."""
    if not _MASTER.fullmatch(master):
        raise GoldloopError(f"--master: {master!r} is not a Spark master (local, local[N], local[*], "
                            "spark://HOST:PORT, yarn or k8s://URL)")
    if master.startswith("local[") and master[6] != "*" and int(re.match(r"local\[(\d+)", master).group(1)) < 1:
        raise GoldloopError(f"--master: {master!r} needs at least one thread")
    return master


@contextmanager
def session(master: str, app: str = "goldloop") -> Iterator[SparkSession]:
    """A SparkSession on ``master``; stopped at the end unless it was already running (a test's
    or a notebook's session is reused, whatever master it has)."""
    warnings.filterwarnings("ignore", message=_PANDAS_WARNING)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    memory = os.environ.get("GOLDLOOP_SPARK_DRIVER_MEMORY", DRIVER_MEMORY)
    python_path = os.pathsep.join(p for p in (str(workspace.REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    builder = (SparkSession.builder.master(master).appName(app)
               .config("spark.pyspark.python", os.environ["PYSPARK_PYTHON"])
               .config("spark.executorEnv.PYTHONPATH", python_path)
               .config("spark.executorEnv.PYTHONWARNINGS", f"ignore:{_PANDAS_WARNING}")
               .config("spark.driver.memory", memory)
               .config("spark.driver.extraJavaOptions", f"-Dlog4j.configurationFile=file:{_LOG_CONFIG}")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.sql.session.timeZone", "UTC"))
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM failed to start: no java, bad master, no cluster there
        raise GoldloopError(f"cannot start Spark on {master!r}: {exc} (bin/setup.sh installs Java 17)") from exc
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


@dataclass(frozen=True, slots=True)
class WorkerContext:
    """What a Spark task needs to reach the driver's database and workspace."""

    database_url: str
    home: str

    @classmethod
    def of_driver(cls) -> WorkerContext:
        """The driver's database URL (the embedded server is started first if that is the one in
        use) and workspace. On a cluster both must be reachable from every executor."""
        from datasets.store import db

        return cls(db.database_url(), str(workspace.home()))

    def enter(self) -> None:
        """Point this worker process at the driver's database and workspace (a reused Python
        worker may have served another session's tasks before)."""
        os.environ["DATABASE_URL"] = self.database_url
        os.environ["GOLDLOOP_HOME"] = self.home


def collect(rdd: RDD[T]) -> list[T]:
    """``rdd.collect()``, with a ``GoldloopError`` raised in a task (a file that cannot be read,
    a database that refuses) given back as itself rather than as Spark's Java stack trace."""
    try:
        return rdd.collect()
    except Exception as exc:
        found = re.findall(r"GoldloopError: (.+)", str(exc))
        if found:
            raise GoldloopError(found[-1].strip()) from None
        raise


@contextmanager
def progress(spark: SparkSession, desc: str, unit: str, enabled: bool) -> Iterator[None]:
    """A tqdm bar on stderr counting the finished tasks of the jobs started inside the block."""
    if not enabled:
        yield
        return
    tracker, context = spark.sparkContext.statusTracker(), spark.sparkContext
    group = f"goldloop-{desc}-{id(threading.current_thread())}"
    context.setJobGroup(group, desc)
    stop = threading.Event()

    def poll(bar: tqdm) -> None:
        while not stop.wait(0.5):
            stages = [tracker.getStageInfo(s) for j in tracker.getJobIdsForGroup(group)
                      for s in (tracker.getJobInfo(j).stageIds if tracker.getJobInfo(j) else [])]
            stages = [s for s in stages if s is not None]
            bar.total = sum(s.numTasks for s in stages)
            bar.n = sum(s.numCompletedTasks for s in stages)
            bar.refresh()

    with tqdm(desc=desc, unit=unit, file=sys.stderr, mininterval=0.5) as bar:
        thread = threading.Thread(target=poll, args=(bar,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            context.setLocalProperty("spark.jobGroup.id", None)
