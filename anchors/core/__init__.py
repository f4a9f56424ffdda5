"""Pure computation: sentences, answers, prompts, metrics, statistics, claims, the simulator. No torch, no disk."""
