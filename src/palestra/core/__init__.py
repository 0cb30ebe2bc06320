"""The few contracts every pillar shares: worlds, evaluators, configs, runs and benches."""
