"""The ``convzoo.evaluation.Evaluation`` gRPC service: evaluations run inside the server.

Registered through the ``convzoo.services`` hook: ``--dataset NAME=PATH`` (repeatable) on
``convzoo serve`` names the datasets clients may evaluate on; a client names a dataset, never
a path, and reports show the dataset's name, not where it lives. ``Evaluate`` runs the same
loop as ``convzoo eval`` (``convzoo.plugins.evaluate``) against a loaded model through the data
plane's infer path (as ModelInfer: validated, queued, counted), streams progress, and ends with
the report. Cancelling the call stops the work at the next batch. A request becomes the same
``JobSpec`` the CLI builds (``convzoo.plugins.spec``) and runs through ``convzoo.plugins.job``.
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import threading
from pathlib import Path

import grpc
import numpy as np

from convzoo.base import codec
from convzoo.base.datasets import Dataset, open_dataset
from convzoo.base.errors import ServingError, invalid
from convzoo.base.loader import ON_ERROR
from convzoo.base.preprocessing import METADATA_KEY
from convzoo.plugins import job, registry
from convzoo.plugins.backends import DEFAULT_RECIPE, class_count, infer_in_parts
from convzoo.plugins.evaluate import Cancelled, Settings
from convzoo.plugins.spec import JobSpec
from convzoo.proto import evaluation_pb2 as pb
from convzoo.proto import evaluation_pb2_grpc as pb_grpc
from convzoo.server.dataplane import DataPlane
from convzoo.server.grpc.services import ExtraService
from convzoo.server.manager import Served
from convzoo.server.operations import InferRequest, InputTensor, OutputRequest

log = logging.getLogger(__name__)
SERVICE = pb.DESCRIPTOR.services_by_name["Evaluation"].full_name
DEFAULT_BATCH_SIZE = 32
DECODE_WORKERS = 4


def parse_dataset(text: str) -> tuple[str, Path]:
    """``NAME=PATH`` of a ``--dataset`` flag."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {text!r}")
    return name, Path(path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset",
        action="append",
        type=parse_dataset,
        default=[],
        metavar="NAME=PATH",
        help="register a dataset (any layout `convzoo eval` reads) for server-side evaluation",
    )


def create(args: argparse.Namespace, dataplane: DataPlane) -> ExtraService:
    """Open the registered datasets (a bad one stops the server from starting) and build the service."""
    datasets: dict[str, Dataset] = {}
    for name, path in args.dataset:
        if name in datasets:
            raise ValueError(f"--dataset {name} is given twice")
        datasets[name] = open_dataset(path)
    servicer = EvaluationServicer(dataplane, datasets)
    return ExtraService(SERVICE, lambda server: pb_grpc.add_EvaluationServicer_to_server(servicer, server))


class ServedBackend:
    """A loaded model as an evaluation backend: batches take the data plane's infer path
    (validated, queued, counted) as a ModelInfer request would; the images are read in place.
    INVALID_ARGUMENT, naming the model's inputs, for a model without an image input."""

    def __init__(self, dataplane: DataPlane, served: Served) -> None:
        model = served.model
        images = [spec for spec in model.inputs if spec.image_input]
        if not images:
            batch = "-1," if model.max_batch_size > 0 else ""
            inputs = ", ".join(
                f"{s.name} ({s.datatype.name} [{batch}{','.join(map(str, s.dims))}])" for s in model.inputs
            )
            raise invalid(
                f"model '{model.name}' has no image input to evaluate: evaluation needs a batched FP32 [-1,3,H,W] "
                f"input (H = W); its inputs: {inputs}"
            )
        self.dataplane = dataplane
        self.input_name, self.output_name = images[0].name, model.outputs[0].name
        self.max_batch = model.max_batch_size
        batch = [-1] if model.max_batch_size > 0 else []  # the configured dims leave the batch dimension out
        self.classes = class_count(batch + list(images[0].dims), batch + list(model.outputs[0].dims))
        self.preprocessing = model.preprocessing
        self.model = {"name": model.name, "version": str(model.version), "source": "convzoo server", "card": model.card}
        self.runtime = {
            "backend": "onnxruntime (convzoo server)",
            "providers": model.session.get_providers(),
            "device": model.device,
            "preprocessing_from": "model metadata" if METADATA_KEY in model.metadata else DEFAULT_RECIPE,
        }

    def _request(self, images: np.ndarray) -> InferRequest:
        datatype, shape, raw = codec.encode_view(images)
        return InferRequest(
            model_name=self.model["name"],
            model_version=self.model["version"],
            inputs=[InputTensor(self.input_name, datatype, shape, data=raw)],
            outputs=[OutputRequest(self.output_name)],
        )

    def _start(self, images: np.ndarray):
        inference = self.dataplane.infer(self._request(images))  # queued now: every part before the first wait
        return lambda: inference.wait().outputs[0].data

    def infer(self, images: np.ndarray) -> np.ndarray:
        return infer_in_parts(images, self.max_batch, self._start)


class EvaluationServicer(pb_grpc.EvaluationServicer):
    def __init__(self, dataplane: DataPlane, datasets: dict[str, Dataset]) -> None:
        self.dataplane = dataplane
        self.datasets = datasets

    def ListPlugins(self, request, context):
        return pb.ListPluginsResponse(plugins=[pb.Plugin(**row) for row in registry.describe()])

    def ListDatasets(self, request, context):
        return pb.ListDatasetsResponse(
            datasets=[
                pb.Dataset(name=name, layout=d.layout, size=len(d.samples), classes=len({s.label for s in d.samples}))
                for name, d in sorted(self.datasets.items())
            ]
        )

    def Evaluate(self, request, context):
        try:
            job = self._job(request)
        except ServingError as error:
            context.abort(error.code, error.message)
        except (ValueError, LookupError) as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error.args[0] if error.args else error))
        events: queue.Queue = queue.Queue()
        cancel = threading.Event()
        context.add_callback(cancel.set)
        threading.Thread(target=job, args=(events, cancel), name="evaluation", daemon=True).start()
        try:
            while True:
                kind, payload = events.get()
                if kind == "progress":
                    yield pb.EvaluateResponse(progress=pb.Progress(**vars(payload)))
                elif kind == "report":
                    yield pb.EvaluateResponse(report_json=json.dumps(payload))
                    return
                else:
                    context.abort(*payload)
        finally:
            cancel.set()

    def _job(self, request):
        """Validate the request; return the function that runs it, feeding an event queue."""
        if request.dataset not in self.datasets:
            raise LookupError(
                f"unknown dataset {request.dataset!r}; registered: {', '.join(sorted(self.datasets)) or 'none'}"
            )
        if request.on_error and request.on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}")
        dataset = self.datasets[request.dataset]
        backend = ServedBackend(self.dataplane, self.dataplane.served(request.model_name, request.model_version))
        spec = JobSpec(
            data=request.dataset,
            model=request.model_name,
            plugins=request.plugins or registry.DEFAULT_SPEC,
            settings=Settings(
                batch_size=request.batch_size or DEFAULT_BATCH_SIZE,
                limit=request.limit or None,
                workers=DECODE_WORKERS,
                on_error=request.on_error or "skip",
            ),
        )
        run_job = job.prepare(spec, dataset, backend)  # refuses before the stream starts

        def work(events: queue.Queue, cancel: threading.Event) -> None:
            try:
                result = run_job(cancel=cancel, on_progress=lambda p: events.put(("progress", p)))
                result["dataset"]["root"] = request.dataset  # clients know the dataset by name, not by path
                events.put(("report", result))
            except Cancelled:
                events.put(("error", (grpc.StatusCode.CANCELLED, "evaluation cancelled")))
            except ServingError as error:
                events.put(("error", (error.code, error.message)))
            except (ValueError, LookupError, OSError) as error:
                events.put(("error", (grpc.StatusCode.FAILED_PRECONDITION, str(error))))
            except Exception as error:  # a bug: log it, and the client still gets an answer
                log.exception("evaluation of %s on %s failed", request.model_name, request.dataset)
                events.put(("error", (grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")))

        return work
