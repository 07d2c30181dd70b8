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
