"""Is the load generator itself the bottleneck? A verdict from per-second CPU samples.

One spike (start-up, writing the files) says nothing; a node that stays near 100% of a core for
several seconds while requests are running delays reading responses, so its latencies and TTFTs
include client time. That is what the warning means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CPU_WARNING_PERCENT = 90.0
SUSTAINED_SAMPLES = 3


@dataclass
class _NodeCpu:
    peak: float = 0.0
    total: float = 0.0
    samples: int = 0
    streak: int = 0
    longest_streak: int = 0


@dataclass
class CpuWatch:
    threshold: float = CPU_WARNING_PERCENT
    sustained: int = SUSTAINED_SAMPLES
    nodes: dict[str, _NodeCpu] = field(default_factory=dict)

    def add(self, node: str, percent: float) -> None:
        """One sample, taken about once a second while a stage is running."""
        cpu = self.nodes.setdefault(node, _NodeCpu())
        cpu.peak = max(cpu.peak, percent)
        cpu.total += percent
        cpu.samples += 1
        cpu.streak = cpu.streak + 1 if percent >= self.threshold else 0
        cpu.longest_streak = max(cpu.longest_streak, cpu.streak)

    def verdict(self) -> dict:
        suspects = sorted(n for n, c in self.nodes.items() if c.longest_streak >= self.sustained)
        return {
            "max_cpu_percent": {n: round(c.peak, 1) for n, c in sorted(self.nodes.items())},
            "mean_cpu_percent": {n: round(c.total / c.samples, 1) for n, c in sorted(self.nodes.items()) if c.samples},
            "cpu_warning": bool(suspects),
            "cpu_warning_nodes": suspects,
            "cpu_warning_rule": f">= {self.threshold:g}% for {self.sustained} consecutive seconds",
            "verdict": "suspect: load generator CPU near its limit" if suspects else "ok",
        }
