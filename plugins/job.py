"""One ``convzoo eval`` run: pick the backend, open the dataset, run, report, clean up."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from convzoo.base.datasets import open_dataset
from convzoo.plugins import registry, report, robustness
from convzoo.plugins.backends import DEFAULT_RECIPE
from convzoo.plugins.evaluate import Progress, Settings, run


def checkpoint_path(output: Path) -> Path:
    """Where the checkpoint of a run writing ``output`` lives."""
    return output.with_name(output.name + ".checkpoint.json")


def _backend(args):
    if args.ray is not None:
        from convzoo.plugins.backends import OnnxBackend

        return OnnxBackend(args.model, device="cpu")  # reads the model here; the actors run it on --device
    if args.server:
        from convzoo.client.channel import Security
        from convzoo.plugins.backends import GrpcBackend

        return GrpcBackend(
            args.server, args.model, args.model_version, Security.from_args(args), shared_memory=args.shared_memory
        )
    from convzoo.plugins.backends import OnnxBackend

    backend = OnnxBackend(args.model, device=args.device)
    if args.device == "auto":
        print(f"convzoo eval: --device auto: running on {backend.device}", file=sys.stderr)
    return backend


def _progress_bar(total: int | None, enabled: bool):
    """A tqdm bar fed from ``Progress`` updates (images/s and running top-1)."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit="img", disable=not enabled, dynamic_ncols=True)

    def update(progress: Progress) -> None:
        bar.total = progress.total
        bar.update(progress.done - bar.n)
        bar.set_postfix(top1=f"{progress.running_top1:.2f}%", refresh=False)

    return bar, update


def from_args(args) -> dict:
    """Run the evaluation the parsed ``convzoo eval`` arguments describe; return its report."""
    if args.shared_memory and (not args.server or args.remote):
        raise ValueError("--shared-memory sends batches to a --server on this machine (not with --remote)")
    with contextlib.ExitStack() as cleanup:  # the backend's channel and shared memory slots go at the end
        return _evaluate(args, cleanup)


def _evaluate(args, cleanup: contextlib.ExitStack) -> dict:
    """``from_args``'s run; ``cleanup`` closes the backend it opens."""
    if args.ray is not None and (args.server or args.resume):
        raise ValueError("--ray runs an ONNX file on the cluster: it takes neither --server nor --resume")
    if args.remote and robustness.requested(args):
        raise ValueError(f"{', '.join(robustness.requested(args))} run in-process or with --ray, not with --remote")
    if args.remote:
        from convzoo.plugins.remote import evaluate_remote

        bar, update = _progress_bar(None, not args.no_progress)
        with bar:
            result = evaluate_remote(args, update)
    else:
        if args.resume and not args.output:
            raise ValueError("--resume needs --output (the checkpoint lives next to the report)")
        backend = cleanup.enter_context(contextlib.closing(_backend(args)))
        dataset = open_dataset(args.data, args.format)
        overrides = {"resize_size": args.resize_size, "crop_size": args.crop_size, "interpolation": args.interpolation}
        recipe = dataset.recipe(backend.preprocessing).override(**overrides)  # e.g. ImageNet-C: crop only
        if any(v is not None for v in overrides.values()):
            backend.runtime["preprocessing_from"] += ", overridden by flags"
        elif backend.runtime["preprocessing_from"] == DEFAULT_RECIPE:
            print(
                f"convzoo eval: warning: {backend.model['name']} publishes no preprocessing; using torchvision's "
                "(resize 256, crop 224 scaled to its input); set --resize-size/--crop-size if it differs",
                file=sys.stderr,
            )
        settings = Settings(args.batch_size, args.limit, args.workers, args.on_error, args.draft)
        plugins = registry.from_spec(args.plugins)
        dataset, plugins = robustness.apply(args, dataset, plugins)  # ImageNet-C cells, corruption error
        checkpoint = checkpoint_path(args.output) if args.output else None
        total = min(len(dataset.samples), args.limit or len(dataset.samples))
        bar, update = _progress_bar(total, not args.no_progress)
        runtime = backend.runtime
        with bar:
            if args.ray is not None:
                from convzoo.plugins import ray_job

                options = ray_job.RayOptions(args.ray or None, args.ray_actors, args.device)
                outcome, on_ray = ray_job.run(
                    dataset,
                    args.model,
                    plugins,
                    settings,
                    recipe,
                    options,
                    predictions=args.predictions,
                    on_progress=update,
                )
                runtime = {**runtime, "backend": "onnxruntime on ray", **on_ray}
            else:
                outcome = run(
                    dataset,
                    backend,
                    plugins,
                    settings,
                    preprocessing=recipe,
                    checkpoint=checkpoint,
                    checkpoint_every=args.checkpoint_every,
                    resume=args.resume,
                    predictions=args.predictions,
                    on_progress=update,
                )
        result = report.build(backend.model, runtime, report.dataset_entry(dataset, outcome), recipe, settings, outcome)
    if args.output:
        report.write(result, args.output)
        checkpoint_path(args.output).unlink(missing_ok=True)
    return result
