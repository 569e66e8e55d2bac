from llmbench_locust.health import CpuWatch


def test_a_spike_is_not_a_warning_but_a_sustained_load_is():
    watch = CpuWatch()
    for value in (20, 99, 30, 95, 96, 40):
        watch.add("w1", value)
    for value in (50, 92, 93, 97, 60):
        watch.add("w2", value)
    verdict = watch.verdict()
    assert verdict["cpu_warning"] is True and verdict["cpu_warning_nodes"] == ["w2"]
    assert verdict["max_cpu_percent"] == {"w1": 99.0, "w2": 97.0}
    assert verdict["mean_cpu_percent"]["w2"] == 78.4


def test_no_samples_is_ok():
    assert CpuWatch().verdict()["verdict"] == "ok"
