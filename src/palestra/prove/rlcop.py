"""rlCoP: expert iteration of MCTS over connection tableaux with gradient-boosted trees.

Kaliszyk, Urban, Michalewski, Olšák, "Reinforcement Learning of Theorem Proving" (NeurIPS
2018). A proof attempt is an MCTS (:func:`palestra.core.search.mcts`) over the connection
world (:mod:`palestra.prove.world`) under a global inference limit, committing a big step
every ``playouts_per_step`` playouts; when every line below a committed root is lost, the
search goes back to the root before it (``backtrack``, on by default: a departure from
rlCoP, which gave up there). Two models guide it:

- the **policy** scores a (state, action) feature vector (:mod:`palestra.prove.features`).
  Its training rows are the states of every found proof, replayed from the start
  (:func:`proof_line`), one row per legal action: target 1 for the action the proof takes,
  0 for the others; LightGBM with the cross-entropy objective. (rlCoP's target was the
  relative visit count of the children at the committed nodes; with uniform priors and
  random rollouts those counts are close to uniform, and the proof's own choices taught the
  search much more here; ``policy_target="visits"`` trains on those counts instead.) Its
  priors over the actions of a state are
  ``softmax(logit(p_a) / temperature)``.
- the **value** scores a state; its target is ``discount ** k`` for a proof state ``k``
  steps before the closed tableau, 0 for up to ``negatives`` children of each proof state
  that the proof does not take, and 0 for the committed roots of a failed attempt.

The loop: iteration 0 searches with uniform priors and random rollouts (``cp_unguided``);
iteration ``i`` trains both models on the data of all iterations before it and searches with
them (``cp_guided``; values from the value model instead of rollouts). Everything lands in
the run directory (``palestra.core.runs.Run``)::

    iter_<i>/model/        policy.txt, value.txt (LightGBM), model.json  (i >= 1)
    iter_<i>/results.jsonl one line per problem: status, inferences, seconds, proof, ...
    iter_<i>/data/<p>.npz  the training rows of problem p (policy and value, sparse)
    iter_<i>/summary.json  problems proved, inferences per second
    checkpoints/           the iteration in progress, for ``resume``

A result line is appended (flushed and synced) only after its data file is in place, so a
killed iteration resumes by skipping the problems already in ``results.jsonl``. Every proof
is checked by :func:`palestra.prove.checker.check` before it counts.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palestra.core.config import config_to_dict
from palestra.core.data import problem_files as data_files
from palestra.core.errors import PalestraError
from palestra.core.jobs import JobRunner
from palestra.core.runs import Run, atomic_write_bytes
from palestra.core.search.mcts import SearchResult, mcts
from palestra.models.forest import Forest
from palestra.prove.attempt import ProofAttempt
from palestra.prove.features import Featurizer, to_csr
from palestra.prove.rlcop_config import RlcopConfig
from palestra.prove.world import Action, ConnectionState, connection_world

__all__ = [
    "DEFAULT_MODEL",
    "GuidedEvaluator",
    "SearchSettings",
    "attempt",
    "fit_models",
    "load_evaluator",
    "model_settings",
    "prove_guided",
    "read_results",
    "train",
]

DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "data" / "models" / "rlcop"


@dataclass(frozen=True)
class SearchSettings:
    """What one proof attempt needs (picklable, sent to worker processes)."""

    inference_limit: int = 200_000
    playouts_per_step: int = 2000
    cp: float = 1.0
    max_depth: int = 10
    rollout_depth: int = 50
    settings: str = "[conj]"
    temperature: float = 1.0
    discount: float = 0.99
    dim: int = 2**16
    negatives: int = 4
    backtrack: bool = True
    fpu: float | None = None
    policy_target: str = "proof"
    seed: int = 0

    @staticmethod
    def from_config(cfg: RlcopConfig, guided: bool) -> SearchSettings:
        return SearchSettings(
            inference_limit=cfg.inference_limit,
            playouts_per_step=cfg.playouts_per_step,
            cp=cfg.cp_guided if guided else cfg.cp_unguided,
            max_depth=cfg.max_depth,
            rollout_depth=cfg.rollout_depth,
            settings=cfg.settings,
            temperature=cfg.temperature,
            discount=cfg.discount,
            dim=cfg.dim,
            negatives=cfg.negatives,
            policy_target=cfg.policy_target,
            backtrack=cfg.backtrack,
            fpu=cfg.guided_fpu if guided else None,
            seed=cfg.seed,
        )


# ---------------------------------------------------------------------------------------
# the guided evaluator


class GuidedEvaluator:
    """Priors from the policy model, values from the value model.

    ``policy`` and ``value`` are :class:`~palestra.models.forest.Forest` s (LightGBM's trees
    scored without LightGBM's per-call overhead). The state's features are computed once and
    shared by ``prior`` and ``value``; the policy scores all the actions of a state
    in one call, each row being the state's features followed by the action's
    (:mod:`palestra.prove.features`). A missing policy model gives uniform priors, a missing
    value model the constant ``value_const``.
    """

    def __init__(
        self,
        policy: Any,
        value: Any,
        *,
        temperature: float = 1.0,
        dim: int = 2**16,
        value_const: float = 0.0,
    ) -> None:
        self.policy = policy
        self.value_model = value
        self.temperature = temperature
        self.value_const = value_const
        self.features = Featurizer(dim)
        self._last: tuple[Any, tuple[Any, Any]] | None = None

    def _state_arrays(self, state: ConnectionState) -> tuple[Any, Any]:
        if self._last is not None and self._last[0] is state:
            return self._last[1]
        arrays = self.features.state_arrays(self.features.state(state))
        self._last = (state, arrays)
        return arrays

    def prior(self, state: ConnectionState) -> list[float]:  # type: ignore[override]
        import numpy as np

        actions = state.legal_actions()
        if not actions:
            return []
        if self.policy is None or len(actions) == 1:
            return [1.0 / len(actions)] * len(actions)
        bi, bv = self._state_arrays(state)
        indices, values, indptr = [], [], [0]
        for a in actions:
            ai, av = self.features.action_arrays(state, a)
            indices += (bi, ai)
            values += (bv, av)
            indptr.append(indptr[-1] + len(bi) + len(ai))
        p = self.policy.predict(indptr, np.concatenate(indices), np.concatenate(values))
        p = np.clip(p, 1e-6, 1 - 1e-6)
        logits = np.log(p / (1 - p)) / self.temperature
        e = np.exp(logits - logits.max())
        return (e / e.sum()).tolist()

    def value(self, state: ConnectionState) -> float:  # type: ignore[override]
        if self.value_model is None:
            return self.value_const
        bi, bv = self._state_arrays(state)
        v = float(self.value_model.predict([0, len(bi)], bi, bv)[0])
        return min(max(v, 0.0), 1.0)


def resolve_model_dir(model_dir: str | Path) -> Path:
    """A model folder: itself, ``default`` (the shipped model), or a run's newest model."""
    if str(model_dir) == "default":
        path = DEFAULT_MODEL
        if not (path / "model.json").exists():
            raise PalestraError(
                "no default rlCoP model is shipped yet; train one with `palestra train rlcop` "
                "and pass its iter_<i>/model folder"
            )
        return path
    path = Path(model_dir)
    if (path / "model.json").exists():
        return path
    models = sorted(path.glob("iter_*/model/model.json"), key=lambda p: int(p.parts[-3][5:]))
    if not models:
        raise PalestraError(f"{path}: no rlCoP model (model.json) here or in iter_*/model")
    return models[-1].parent


_LOADED: dict[str, GuidedEvaluator] = {}


def _booster(lgb: Any, folder: Path, part: str) -> Any:
    """LightGBM's text model ``<part>.txt``, or gzip-compressed ``<part>.txt.gz`` (the shipped
    model: the text lists every one of the 65,536 hashed columns and compresses 5x)."""
    plain = folder / f"{part}.txt"
    if plain.exists():
        return lgb.Booster(model_file=str(plain))
    packed = folder / f"{part}.txt.gz"
    if not packed.exists():
        raise PalestraError(f"{folder}: no {part} model ({part}.txt or {part}.txt.gz)")
    import gzip

    return lgb.Booster(model_str=gzip.decompress(packed.read_bytes()).decode("utf-8"))


def load_evaluator(model_dir: str | Path, temperature: float | None = None) -> GuidedEvaluator:
    """Load the models saved by :func:`fit_models` (cached per process)."""
    path = resolve_model_dir(model_dir)
    key = f"{path.resolve()}|{temperature}"
    if key not in _LOADED:
        import lightgbm as lgb

        meta = json.loads((path / "model.json").read_text())
        dim = meta["dim"]
        policy = value = None
        if meta.get("policy"):
            policy = Forest.from_booster(_booster(lgb, path, "policy"), dim)
        if meta.get("value"):
            value = Forest.from_booster(_booster(lgb, path, "value"), dim)
        _LOADED[key] = GuidedEvaluator(
            policy,
            value,
            temperature=meta["temperature"] if temperature is None else temperature,
            dim=dim,
            value_const=meta.get("value_const", 0.0),
        )
    ev = _LOADED[key]
    ev._last = None
    return ev


# ---------------------------------------------------------------------------------------
# one proof attempt


def _problem_seed(seed: int, name: str, iteration: int = 0) -> int:
    return (seed * 1_000_003 + zlib.crc32(name.encode()) + 7919 * iteration) % 2**31


def attempt(
    path: str | Path,
    model_dir: str | Path | None,
    s: SearchSettings,
    *,
    iteration: int = 0,
    collect: bool = True,
) -> tuple[ProofAttempt, dict[str, Any] | None]:
    """Search a proof of one problem; the result and the training rows.

    ``model_dir=None`` searches unguided. The training data (when ``collect``) holds sparse
    rows ``policy_rows``/``value_rows`` and their targets ``policy_y``/``value_y``.
    """
    from palestra.prove.checker import check

    path = Path(path)
    t0 = time.perf_counter()
    state = connection_world(path=path, settings=s.settings, max_depth=s.max_depth)
    evaluator = None if model_dir is None else load_evaluator(model_dir, s.temperature)
    seed = _problem_seed(s.seed, path.stem, iteration)
    r: SearchResult = mcts(
        state,
        evaluator,
        cp=s.cp,
        playouts_per_step=s.playouts_per_step,
        budget=s.inference_limit,
        rollout_depth=s.rollout_depth,
        backtrack=s.backtrack,
        fpu=s.fpu,
        seed=seed,
    )
    seconds = time.perf_counter() - t0
    result = ProofAttempt(
        problem=path.stem,
        file=str(path),
        status="Theorem" if r.solved else ("GaveUp" if r.exhausted else "InfLimit"),
        inferences=r.inferences,
        seconds=round(seconds, 3),
        playouts=r.playouts,
        big_steps=r.big_steps,
        guided=model_dir is not None,
    )
    if r.solved:
        assert isinstance(r.solution, ConnectionState)
        proof = r.solution.proof()
        verdict = check(state.problem.matrix, proof)
        result = dataclasses.replace(
            result, checked=verdict.accepted, proof=proof.to_dict(), proof_text=str(proof)
        )
        if not verdict.accepted:
            result = dataclasses.replace(result, error=verdict.reason).rejected()
    if not collect:
        return result, None
    data = training_rows(state, r, s)
    return result, data


def proof_line(
    start: ConnectionState, solution: ConnectionState
) -> list[tuple[ConnectionState, Action]]:
    """The states of a found proof, from ``start`` (left unchanged) to the closed tableau,
    each with the action the proof takes there (replayed from the solution's trace)."""
    steps = []
    t = solution.trace
    while t is not None:
        steps.append(t[0])
        t = t[1]
    line = []
    st = start.clone()
    for rule, ref, _off in reversed(steps):
        action = Action("red" if rule == 1 else "ext", ref)
        line.append((st, action))
        st = st.clone()
        st.apply(action)
    assert st.is_proved(), "the replayed proof must close the tableau"
    return line


def training_rows(state: ConnectionState, r: SearchResult, s: SearchSettings) -> dict[str, Any]:
    """The policy and value rows of one attempt (see the module docstring for the targets)."""
    feat = Featurizer(s.dim)
    data: dict[str, Any] = {"policy_rows": [], "policy_y": [], "value_rows": [], "value_y": []}
    if not r.solved:
        for node in r.nodes:  # the committed roots of a failed attempt: value 0
            data["value_rows"].append(feat.state(node.state))  # type: ignore[arg-type]
            data["value_y"].append(0.0)
        return data
    assert isinstance(r.solution, ConnectionState)
    line = proof_line(state, r.solution)
    end = len(line)
    if s.policy_target == "visits":  # rlCoP's: relative visit counts at the reported nodes
        for node in r.nodes:
            total = sum(node.visits)
            if total > 0 and len(node.actions) > 1:
                data["policy_rows"].extend(feat.policy_rows(node.state, node.actions))  # type: ignore[arg-type]
                data["policy_y"].extend(v / total for v in node.visits)
    for k, (st, action) in enumerate(line):
        data["value_rows"].append(feat.state(st))
        data["value_y"].append(s.discount ** (end - k))
        actions = st.legal_actions()
        if len(actions) < 2:
            continue
        if s.policy_target == "proof":
            data["policy_rows"].extend(feat.policy_rows(st, actions))
            data["policy_y"].extend(1.0 if a == action else 0.0 for a in actions)
        for a in actions[: s.negatives + 1]:  # the states off the proof: value 0
            if a != action:
                child = st.clone()
                child.apply(a)
                data["value_rows"].append(feat.state(child))
                data["value_y"].append(0.0)
    return data


# ---------------------------------------------------------------------------------------
# training data and models


def _save_data(path: Path, data: dict[str, Any], dim: int) -> None:
    import numpy as np

    arrays: dict[str, Any] = {}
    for part in ("policy", "value"):
        m = to_csr(data[f"{part}_rows"], dim)
        arrays[f"{part}_data"] = m.data
        arrays[f"{part}_indices"] = m.indices
        arrays[f"{part}_indptr"] = m.indptr
        arrays[f"{part}_y"] = np.asarray(data[f"{part}_y"], dtype=np.float64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _load_data(paths: Iterable[Path], dim: int) -> dict[str, Any]:
    """Stack the saved rows of many problems: ``{part: (csr [rows, dim], y [rows])}``."""
    import numpy as np
    from scipy.sparse import csr_matrix, vstack

    parts: dict[str, tuple[list, list]] = {"policy": ([], []), "value": ([], [])}
    for path in paths:
        with np.load(path) as z:
            for part, (xs, ys) in parts.items():
                y = z[f"{part}_y"]
                m = csr_matrix(
                    (z[f"{part}_data"], z[f"{part}_indices"], z[f"{part}_indptr"]),
                    shape=(len(y), dim),
                )
                xs.append(m)
                ys.append(y)
    out = {}
    for part, (xs, ys) in parts.items():
        y = np.concatenate(ys) if ys else np.zeros(0)
        x = vstack(xs, format="csr") if xs else csr_matrix((0, dim))
        out[part] = (x, y)
    return out


def fit_models(data: dict[str, Any], out: Path, cfg: RlcopConfig) -> Path:
    """Train the policy and value models on ``data`` (``_load_data``) and save them in ``out``.

    A part with no rows (no proof found yet) or constant targets gets no model: uniform
    priors, or the constant value. Written to a temporary folder and renamed, so ``out``
    exists only complete.
    """
    import lightgbm as lgb

    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    params = {
        "objective": "cross_entropy",
        "num_leaves": cfg.num_leaves,
        "learning_rate": cfg.learning_rate,
        "min_data_in_leaf": 5,
        "num_threads": 1,
        "seed": cfg.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }
    meta: dict[str, Any] = {
        "dim": cfg.dim,
        "temperature": cfg.temperature,
        "max_depth": cfg.max_depth,
        "settings": cfg.settings,
        "cp": cfg.cp_guided,
        "cp_unguided": cfg.cp_unguided,
        "playouts_per_step": cfg.playouts_per_step,
        "backtrack": cfg.backtrack,
        "fpu": cfg.guided_fpu,
        "discount": cfg.discount,
    }
    for part in ("policy", "value"):
        x, y = data[part]
        meta[f"{part}_rows"] = len(y)
        meta[part] = False
        if len(y) >= 2 and float(y.min()) < float(y.max()):
            booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=cfg.rounds)
            booster.save_model(str(tmp / f"{part}.txt"))
            meta[part] = True
    x, y = data["value"]
    meta["value_const"] = float(y.mean()) if len(y) else 0.0
    atomic_write_bytes(tmp / "model.json", json.dumps(meta, indent=2).encode())
    os.replace(tmp, out)
    return out


# ---------------------------------------------------------------------------------------
# the iteration loop


def read_results(path: Path) -> list[ProofAttempt]:
    """The result lines of an iteration, skipping a torn last line (a killed writer)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(ProofAttempt.from_json(json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            continue
    return out


def _append_line(path: Path, result: ProofAttempt) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(result.to_json(proof_text=True)) + "\n")
        f.flush()
        os.fsync(f.fileno())


def problem_files(cfg: RlcopConfig) -> list[Path]:
    """The problems of a run: every ``*.p`` under ``cfg.problems``, or a seeded sample."""
    return data_files("m2k", cfg.problems, sample=cfg.sample, seed=cfg.seed)


def run_attempts(
    files: list[Path],
    model_dir: Path | None,
    s: SearchSettings,
    *,
    iteration: int,
    jobs: int,
    collect: bool = True,
    ray: str | None = None,
    on_done: Callable[[ProofAttempt, dict[str, Any] | None], None],
) -> None:
    """Attempt every file, calling ``on_done`` in this process as each one finishes.

    ``jobs`` forked processes (:mod:`palestra.core.jobs`; the model is loaded once, here, and
    inherited), or, with ``ray`` (``"local"`` or a cluster address), one Ray task per problem:
    the model's files travel with the tasks (:func:`_ray_attempt`), the problem files are read
    at the same paths on every node. A crashed attempt raises :class:`JobError`.
    """
    if ray is None and (jobs <= 1 or len(files) <= 1):
        for f in files:
            on_done(*attempt(f, model_dir, s, iteration=iteration, collect=collect))
        return
    with JobRunner(jobs, ray=ray) as runner:
        if ray is None:
            if model_dir is not None:
                load_evaluator(model_dir, s.temperature)  # cached: every fork inherits it
            for f in files:
                runner.submit(
                    attempt, f, model_dir, s, iteration=iteration, collect=collect, key=f.stem
                )
        else:
            import ray as ray_module

            model = None
            if model_dir is not None:
                model = {
                    n: (model_dir / n).read_bytes()
                    for n in _MODEL_FILES
                    if (model_dir / n).exists()
                }
            model_ref = ray_module.put(model)  # once, not with every task
            for f in files:
                runner.submit(_ray_attempt, str(f), model_ref, s, iteration, collect, key=f.stem)
        while runner.pending():
            for r in runner.wait():
                on_done(*r.unwrap())


_MODEL_FILES = ("model.json", "policy.txt", "value.txt", "policy.txt.gz", "value.txt.gz")


def _ray_attempt(
    path: str, model: dict[str, bytes] | None, s: SearchSettings, iteration: int, collect: bool
) -> tuple[ProofAttempt, dict[str, Any] | None]:
    """:func:`attempt` inside a Ray worker: the model's files arrive as bytes and are written
    once per worker into a folder named by their hash."""
    model_dir = None
    if model is not None:
        import hashlib
        import tempfile

        digest = hashlib.sha256(b"".join(model[k] for k in sorted(model))).hexdigest()[:16]
        model_dir = Path(tempfile.gettempdir()) / f"palestra-rlcop-{os.getpid()}-{digest}"
        if not (model_dir / "model.json").exists():
            model_dir.mkdir(parents=True, exist_ok=True)
            for name in sorted(model, key=lambda n: n == "model.json"):  # model.json last
                atomic_write_bytes(model_dir / name, model[name])
    return attempt(path, model_dir, s, iteration=iteration, collect=collect)


def _summary(results: list[ProofAttempt]) -> dict[str, Any]:
    proved = [r for r in results if r.proved]
    inferences = sum(r.inferences for r in results)
    seconds = sum(r.seconds for r in results)
    return {
        "problems": len(results),
        "proved": len(proved),
        "inferences": inferences,
        "seconds": round(seconds, 3),
        "inferences_per_second": inferences / seconds if seconds > 0 else 0.0,
    }


def train(
    cfg: RlcopConfig,
    *,
    files: list[Path] | None = None,
    on_result: Callable[[ProofAttempt], None] | None = None,
) -> Path:
    """Run the rlCoP iterations of ``cfg``; returns the run directory.

    ``files`` replaces the problems of ``cfg.problems`` (a bench's training split); the list
    is saved as ``problems.json``. ``on_result`` sees every problem's result.
    """
    files = problem_files(cfg) if files is None else list(files)
    with Run.open("rlcop", cfg, seed=cfg.seed, root=cfg.runs, resume=cfg.resume) as run:
        ck = run.load_checkpoint() if run.resumed else None
        start = int(ck[1]["iteration"]) if ck else 0
        run.write_json("problems.json", [f.stem for f in files])
        summaries = []
        for i in range(cfg.iterations):
            d = run.dir / f"iter_{i}"
            if i < start:
                summaries.append(json.loads((d / "summary.json").read_text()))
                continue
            run.save_checkpoint(i, {"iteration": i})
            (d / "data").mkdir(parents=True, exist_ok=True)
            model_dir = None
            if i > 0:
                model_dir = d / "model"
                if not (model_dir / "model.json").exists():
                    paths = [
                        p for j in range(i) for p in (run.dir / f"iter_{j}/data").glob("*.npz")
                    ]
                    fit_models(_load_data(sorted(paths), cfg.dim), model_dir, cfg)
            results_path = d / "results.jsonl"
            done = {r.problem for r in read_results(results_path)}
            todo = [f for f in files if f.stem not in done]
            s = SearchSettings.from_config(cfg, guided=i > 0)

            def on_done(result: ProofAttempt, data: dict[str, Any] | None, d: Path = d) -> None:
                if data is not None:
                    _save_data(d / "data" / f"{result.problem}.npz", data, cfg.dim)
                _append_line(d / "results.jsonl", result)
                if on_result is not None:
                    on_result(result)

            if cfg.progress and todo:
                from palestra.core.progress import progress_bar

                with progress_bar(f"rlcop iteration {i}", len(todo)) as tick:

                    def ticking(r: ProofAttempt, x: dict[str, Any] | None) -> None:
                        on_done(r, x)
                        tick()

                    run_attempts(
                        todo, model_dir, s, iteration=i, jobs=cfg.jobs, ray=cfg.ray, on_done=ticking
                    )
            else:
                run_attempts(
                    todo, model_dir, s, iteration=i, jobs=cfg.jobs, ray=cfg.ray, on_done=on_done
                )
            summary = {"iteration": i, "guided": i > 0, **_summary(read_results(results_path))}
            run.write_json(f"iter_{i}/summary.json", summary)
            run.log(
                i,
                proved=summary["proved"],
                proved_share=summary["proved"] / max(summary["problems"], 1),
                inferences_per_second=summary["inferences_per_second"],
            )
            summaries.append(summary)
        run.save_checkpoint(cfg.iterations, {"iteration": cfg.iterations})
        run.write_json("summary.json", {"iterations": summaries, "config": config_to_dict(cfg)})
        return run.dir


def model_settings(
    model_dir: str | Path, inference_limit: int = 200_000, seed: int = 0
) -> tuple[Path, SearchSettings, SearchSettings]:
    """A model folder (see :func:`resolve_model_dir`) and the search settings it was trained
    with (clausal form, depth bound, big steps, temperature, from its ``model.json``): for the
    guided search, and for the unguided search it is compared with (``cp_unguided``)."""
    resolved = resolve_model_dir(model_dir)
    meta = json.loads((resolved / "model.json").read_text())
    guided = SearchSettings(
        inference_limit=inference_limit,
        playouts_per_step=meta["playouts_per_step"],
        cp=meta["cp"],
        max_depth=meta["max_depth"],
        settings=meta["settings"],
        temperature=meta["temperature"],
        dim=meta["dim"],
        backtrack=meta.get("backtrack", True),
        fpu=meta.get("fpu"),
        seed=seed,
    )
    return resolved, guided, dataclasses.replace(guided, cp=meta.get("cp_unguided", 1.0), fpu=None)


def prove_guided(
    path: str | Path,
    model_dir: str | Path | None,
    inference_limit: int = 200_000,
    seed: int = 0,
) -> ProofAttempt:
    """Prove one TPTP problem by MCTS guided by the models in ``model_dir``.

    ``model_dir``: a model folder (``iter_<i>/model``), a run directory (its newest model),
    ``"default"`` (the shipped model), or None (unguided MCTS). The search settings the model
    was trained with come from its ``model.json`` (:func:`model_settings`).
    """
    if model_dir is None:
        result, _ = attempt(
            path, None, SearchSettings(inference_limit=inference_limit, seed=seed), collect=False
        )
        return result
    resolved, s, _ = model_settings(model_dir, inference_limit, seed)
    result, _ = attempt(path, resolved, s, collect=False)
    return result
