"""The vLLM server's command line and environment."""

from inference.serving.process import vllm_command


def test_server_command_uses_the_module_entry_point_and_cpu_settings(settings):
    settings.VLLM_DEVICE = "cpu"
    argv, env = vllm_command(model_path="/m", version_name="ft-1", port=9000)
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert argv[argv.index("--served-model-name") + 1 : argv.index("--served-model-name") + 3] == ["quizsite", "ft-1"]
    assert "--dtype" in argv and argv[argv.index("--dtype") + 1] == "float32"
    assert env["VLLM_CPU_KVCACHE_SPACE"]
    settings.VLLM_DEVICE = "cuda"
    argv, _ = vllm_command(model_path="/m", version_name="ft-1")
    assert "--tensor-parallel-size" in argv and "--gpu-memory-utilization" in argv


def test_a_server_started_beside_another_gets_the_cores_the_other_leaves_free(monkeypatch):
    from inference.serving import process

    monkeypatch.setattr(process.os, "cpu_count", lambda: 2)
    # vLLM's auto binding holds every core but the last; each switch after that alternates
    assert process.cores_beside("auto") == [1]
    assert process.cores_beside("1") == [0]
    assert process.cores_beside("0") == [1]
    monkeypatch.setattr(process.os, "cpu_count", lambda: 8)
    assert process.cores_beside("auto") == [7]
    assert process.cores_beside("7") == [0, 1, 2, 3, 4, 5, 6]
    assert process.cores_beside("0-6") == [7]
    assert process.cores_beside("0-7") == [7]  # nothing left free: the last core


def test_a_server_given_cores_starts_its_whole_process_tree_on_them(tmp_path, settings, monkeypatch):
    """The guard puts vLLM on the server's cores before it imports torch (whose CPU probe visits each
    allowed core), and binds its OpenMP threads there."""
    import sys

    from inference.serving import process as module
    from inference.serving.plans import ServingPlan

    settings.VLLM_DEVICE = "cpu"
    seen = tmp_path / "seen"
    # vLLM's command replaced by one that writes down where it may run and where its threads bind
    report = (
        "import os; open(os.environ['SEEN'], 'w')"
        ".write(f\"{sorted(os.sched_getaffinity(0))} {os.environ['VLLM_CPU_OMP_THREADS_BIND']}\")"
    )
    real = module.vllm_command
    monkeypatch.setattr(
        module,
        "vllm_command",
        lambda **kwargs: ([sys.executable, "-c", report], {**real(**kwargs)[1], "SEEN": str(seen)}),
    )
    server = module.ModelProcess(
        plan=ServingPlan(version="v", name="v", model_path="/nowhere"), port=1, log_path=tmp_path / "log", cores=[0]
    )
    server.start()
    assert server.process.wait(timeout=30) == 0
    assert seen.read_text() == "[0] 0"
    assert server.binding == "0"
