"""Expert trajectories by Go-Explore search and the expert-augmented BA3C loss."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("ale_py")

from palestra.core.errors import PalestraError
from palestra.core.runs import read_metrics
from palestra.play.atari import AtariGame, AtariSettings
from palestra.play.ba3c import Rollout, ba3c_update
from palestra.play.config import PlayTrainConfig
from palestra.play.expert import (
    ExpertBuffer,
    ExpertData,
    ExpertSearchConfig,
    find_expert,
    load_expert,
    search,
)
from palestra.play.train import train

GAME = "breakout"  # rewards come within a few hundred steps: a fast fixture


@pytest.fixture(scope="module")
def expert(tmp_path_factory: pytest.TempPathFactory) -> tuple[ExpertData, Path]:
    """Two short searches (different no-ops) on Breakout, with the domain-agnostic cell."""
    out = tmp_path_factory.mktemp("expert") / "mr.npz"
    cfg = ExpertSearchConfig(
        game=GAME, trajectories=2, steps=3_000, noop_max=30, out=out, progress=False
    )
    data, _ = find_expert(cfg)
    return data, out


def test_search_finds_cells_and_the_replay_reproduces_the_score(
    expert: tuple[ExpertData, Path],
) -> None:
    data, out = expert
    meta = json.loads(out.with_suffix(".json").read_text())
    assert [t["noops"] for t in meta["trajectories"]] == [1, 30]
    assert all(t["cells"] > 1 for t in meta["trajectories"])
    # find_expert re-checks each replay against the search; the saved scores are those
    assert meta["scores"] == [t["score"] for t in meta["trajectories"]] == data.scores()
    assert min(data.scores()) > 0
    loaded = load_expert(out)
    for name in ("screen", "ram", "actions", "rewards", "trajectory"):
        assert np.array_equal(getattr(loaded, name), getattr(data, name))
    assert loaded.game == GAME


def test_stacks_are_what_the_game_shows_the_learner(expert: tuple[ExpertData, Path]) -> None:
    """Replay trajectory 1 in a game with training's observation (4 screens, 4 RAMs) and
    compare every observation with the rebuilt stacks."""
    data, out = expert
    rows = np.flatnonzero(data.trajectory == 1)
    noops = json.loads(out.with_suffix(".json").read_text())["trajectories"][1]["noops"]
    game = AtariGame(AtariSettings(game=GAME, obs="both", noop_max=0), 0)
    game.reset(noops)
    stacks = data.stacks("both", 4, 4)
    for row in rows:
        obs = game.observation()
        assert np.array_equal(stacks["screen"][row], obs["screen"])
        assert np.array_equal(stacks["ram"][row], obs["ram"])
        game.step(int(data.actions[row]))


def test_returns_and_stacks_stop_at_trajectory_boundaries() -> None:
    T = 5
    data = ExpertData(
        GAME,
        screen=np.arange(T, dtype=np.uint8)[:, None, None].repeat(84, 1).repeat(84, 2) + 1,
        ram=np.arange(T, dtype=np.uint8)[:, None].repeat(128, 1) + 1,
        actions=np.zeros(T, np.int64),
        rewards=np.array([0, 100, 0, 0, 300], np.float32),
        trajectory=np.array([0, 0, 0, 1, 1]),
        meta={},
    )
    assert data.returns(0.5).tolist() == [0.5, 1.0, 0.0, 0.5, 1.0]  # clipped to sign
    assert data.returns(1.0, clip=False).tolist() == [100, 100, 0, 300, 300]
    ram = data.stacks("ram", ram_stack=3)["ram"][:, :, 0]  # [T, 3]: oldest .. latest
    assert ram.tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [0, 0, 4], [0, 4, 5]]
    assert data.scores() == [100.0, 300.0]


def test_load_refuses_a_file_that_is_not_a_dataset(tmp_path: Path) -> None:
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(PalestraError, match="not an expert dataset"):
        load_expert(bad)


def test_montezuma_search_uses_ram_cells_and_is_deterministic_given_the_seed() -> None:
    cfg = ExpertSearchConfig(game="montezuma_revenge", steps=2_000, progress=False)
    a, b = search(cfg, 5, 0), search(cfg, 5, 0)
    assert a.best.actions == b.best.actions and a.cells == b.cells > 5
    assert all(len(key) == 5 for key in a.archive)  # level, room, inventory, x, y
    c = search(dataclasses.replace(cfg, seed=1), 5, 0)
    assert c.cells != a.cells or c.best.actions != a.best.actions


def _rollout(n_actions: int) -> Rollout:
    T, N = 2, 2
    return Rollout(
        obs={"ram": torch.zeros(T, N, 4, 128, dtype=torch.uint8)},
        actions=torch.zeros(T, N, dtype=torch.long),
        rewards=torch.zeros(T, N),
        dones=torch.zeros(T, N),
        next_obs={"ram": torch.zeros(N, 4, 128, dtype=torch.uint8)},
        episodes=[],
    )


def test_expert_term_raises_the_expert_actions_probability(
    expert: tuple[ExpertData, Path],
) -> None:
    """With the expert term alone, updates make the expert's actions more likely; with
    ``critic`` advantages it vanishes where the value already exceeds the expert's return."""
    from palestra.play.common import make_model

    data, _ = expert
    cfg = PlayTrainConfig(algo="ba3c", game=GAME, obs="ram", hidden=32, ent_coef=0.0, vf_coef=0.0)
    buffer = ExpertBuffer(data, "ram", 4, cfg.gamma, True)
    torch.manual_seed(0)
    n_actions = AtariGame(AtariSettings(game=GAME), 0).n_actions
    model = make_model(cfg, n_actions)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def likelihood() -> float:
        with torch.no_grad():
            logits, _ = model(buffer.obs)
        return torch.log_softmax(logits, -1).gather(1, buffer.actions[:, None]).mean().item()

    before = likelihood()
    for _ in range(30):
        losses = ba3c_update(model, optimizer, _rollout(n_actions), cfg, buffer)
    assert likelihood() > before + 0.1
    assert {"expert_loss", "expert_adv", "expert_accuracy"} <= set(losses)
    # the clip: a critic that overestimates every expert state gives zero advantage
    with torch.no_grad():
        model.critic.bias.fill_(1e3)
    losses = ba3c_update(model, optimizer, _rollout(n_actions), cfg, buffer)
    assert losses["expert_adv"] == 0.0 and losses["expert_loss"] == 0.0


def test_ba3c_with_an_expert_trains_resumes_and_checks_the_game(
    expert: tuple[ExpertData, Path], tmp_path: Path
) -> None:
    _, out = expert
    cfg = PlayTrainConfig(
        algo="ba3c",
        game=GAME,
        obs="ram",
        total_steps=64,
        num_envs=4,
        rollout=4,
        hidden=32,
        expert=out,
        expert_batch=16,
        checkpoint_every=2,
        runs_root=tmp_path,
        progress=False,
    )
    run_dir = train(cfg)
    records = read_metrics(run_dir)
    assert [r["step"] for r in records] == [16, 32, 48, 64]
    assert all(0 <= r["expert_accuracy"] <= 1 for r in records)
    with pytest.raises(PalestraError, match="an expert of 'breakout', not 'pong'"):
        train(dataclasses.replace(cfg, game="pong"))
    with pytest.raises(ValueError, match="for algo ba3c"):
        PlayTrainConfig(algo="ppo", expert=out)


def test_bench_expert_tiny_reuses_its_expert_and_runs(tmp_path: Path) -> None:
    from palestra.core.bench import run_suite

    options = [
        "game=breakout",
        "trajectories=1",
        "expert_steps=2000",
        "frames=1280",  # two BA3C updates of 32 envs x 5 steps
        "seeds=1",
        "eval_episodes=1",
        "expert_batch=16",
        f"runs={tmp_path / 'kept'}",
    ]
    results = []
    for attempt in ("first", "again"):
        json_path, md_path = run_suite(
            "expert", quick=True, out_dir=tmp_path / attempt, options=options, runs_root=tmp_path
        )
        results.append(json.loads(json_path.read_text()))
        if attempt == "first":
            data_file = tmp_path / "kept" / "expert" / "breakout.npz"
            stamp = data_file.stat().st_mtime_ns
    assert data_file.stat().st_mtime_ns == stamp  # the second run reused the expert data
    first, again = (r["data"]["atari"] for r in results)
    assert [row[0] for row in first["rows"]] == ["plain", "expert", "bc"]
    assert first["curves"] == again["curves"]  # the runs were found finished, not retrained
    assert first["expert"][0]["score"] > 0
    names = {f["name"] for f in results[0]["figures"]}
    assert {"breakout expert score", "breakout bc score", "breakout random policy"} <= names
    assert "breakout: expert trajectories" in md_path.read_text()


def test_episodes_start_along_the_expert_and_are_not_reported(
    expert: tuple[ExpertData, Path],
) -> None:
    from palestra.play.atari import AtariVecEnv, Starts
    from palestra.play.expert import expert_starts

    data, _ = expert
    settings = AtariSettings(game=GAME, obs="ram", episodic_life=False)
    states = expert_starts(data, settings)
    assert len(states) == len(data)
    stacks = data.stacks("ram", ram_stack=4)["ram"]
    for row in (0, len(data) // 2, len(data) - 1):  # the learner's observation at each state
        assert np.array_equal(states[row]["ram"], stacks[row])

    game = AtariGame(settings, 3, Starts(states, prob=1.0))
    game.reset()
    assert game.from_start and game.episode_return == 0 and game.episode_length == 0
    assert any(np.array_equal(game.ram, s["ram"]) for s in states)
    # the game's own RNG is kept (not the expert replay's): two games draw differently
    other = AtariGame(settings, 4, Starts(states, prob=1.0))
    assert game.rng.bit_generator.state != other.rng.bit_generator.state

    # every episode starts at the expert, so none is reported; without starts they are
    rng = np.random.default_rng(0)
    for starts in (Starts(states, prob=1.0), None):
        with AtariVecEnv(settings, 2, seed=0, starts=starts) as env:
            env.reset()
            reported, ended = [], 0
            for _ in range(1500):
                result = env.step(rng.integers(4, size=2))
                reported += result.episodes
                ended += int(result.terminated.sum())
            assert ended > 0
            assert (reported == []) == (starts is not None)
    with pytest.raises(ValueError, match="needs an expert dataset"):
        PlayTrainConfig(algo="ba3c", expert_starts=0.5)


def test_canonical_labels_keep_the_trajectory_and_only_lower_the_actions() -> None:
    from palestra.play.expert import canonical_actions

    rng = np.random.default_rng(0)
    actions = rng.integers(18, size=80).tolist()
    canonical = canonical_actions("montezuma_revenge", actions, 0, 3)
    assert all(c <= a for c, a in zip(canonical, actions, strict=True))
    assert canonical != actions  # mid-jump and against walls many actions are equivalent

    def rams(sequence: list[int]) -> list[np.ndarray]:
        game = AtariGame(AtariSettings(game="montezuma_revenge", obs="ram", noop_max=0), 0)
        game.reset(3)
        out = []
        for a in sequence:
            game.step(a)
            out.append(game.ale.getRAM().copy())
        return out

    assert all(np.array_equal(x, y) for x, y in zip(rams(actions), rams(canonical), strict=True))


def test_bench_expert_doom_part_tiny(tmp_path: Path) -> None:
    pytest.importorskip("vizdoom")
    from palestra.core.bench import run_suite

    options = [
        "parts=doom",
        "doom_expert_steps=30000",  # seed 0 spawns near the vest (found within 30k steps)
        "doom_frames=640",  # one BA3C update of 32 envs x 5 steps
        "arms=plain,expert",
        "eval_episodes=1",
        "expert_batch=8",
        f"runs={tmp_path / 'kept'}",
    ]
    json_path, md_path = run_suite(
        "expert", quick=True, out_dir=tmp_path / "out", options=options, runs_root=tmp_path
    )
    doom = json.loads(json_path.read_text())["data"]["doom"]
    assert "| trajectory | episode seed |" in md_path.read_text()  # Doom has no no-op starts
    assert doom["expert"][0]["score"] > 0  # the vest (+1) minus the living reward
    assert [row[0] for row in doom["rows"]] == ["plain", "expert"]
    assert (tmp_path / "kept" / "doom-my_way_home-screen-expert-0").is_dir()
