"""``convzoo eval --server H:P --model NAME --remote``: the evaluation runs inside a convzoo server.

``--data`` names a dataset the server registered (``convzoo serve --dataset NAME=PATH``). The
client streams progress into the bar and receives the report; Ctrl-C cancels the call, which
stops the work on the server.
"""

from __future__ import annotations

import json

import grpc

from convzoo.client.channel import Security, open_channel
from convzoo.plugins.spec import JobSpec
from convzoo.plugins.step import Progress


def server_catalog(server: str, security: Security = Security()) -> tuple[list, list]:
    """The plugins and the registered datasets of a convzoo server."""
    from convzoo.proto import evaluation_pb2 as pb
    from convzoo.proto import evaluation_pb2_grpc as pb_grpc

    with open_channel(server, security) as channel:
        stub = pb_grpc.EvaluationStub(channel)
        try:
            plugins = stub.ListPlugins(pb.ListPluginsRequest()).plugins
            datasets = stub.ListDatasets(pb.ListDatasetsRequest()).datasets
        except grpc.RpcError as error:
            raise OSError(f"{server}: {error.code().name}: {error.details()}") from None
    return list(plugins), list(datasets)


def evaluate_remote(spec: JobSpec, on_progress=None) -> dict:
    """Run ``spec`` inside the server it names (``spec.remote``); return the server's report."""
    from convzoo.proto import evaluation_pb2 as pb
    from convzoo.proto import evaluation_pb2_grpc as pb_grpc

    request = pb.EvaluateRequest(
        model_name=spec.model,
        model_version=spec.remote.model_version,
        dataset=spec.data,
        plugins=spec.plugins,
        limit=spec.settings.limit or 0,
        batch_size=spec.settings.batch_size,
        on_error=spec.settings.on_error,
    )
    with open_channel(spec.remote.url, spec.remote.security) as channel:
        call = pb_grpc.EvaluationStub(channel).Evaluate(request)
        try:
            for response in call:
                if response.HasField("report_json"):
                    return json.loads(response.report_json)
                if on_progress:
                    p = response.progress
                    on_progress(Progress(p.done, p.total, p.evaluated, p.running_top1, p.images_per_second))
        except grpc.RpcError as error:
            raise OSError(f"server evaluation failed: {error.code().name}: {error.details()}") from None
        except KeyboardInterrupt:
            call.cancel()
            raise
    raise OSError("the server ended the evaluation without a report")
