# One image for students and graders: JupyterLab + nbgrader + the course library
# + the autograder, TensorFlow on CPU or with CUDA.
#
#   docker build -t dlbricks .                                  # CPU (tensorflow-cpu)
#   docker build -t dlbricks:gpu --build-arg TF_VARIANT=cuda .  # GPU (tensorflow[and-cuda])
#   docker build --build-arg BASE_IMAGE=my-debian-base ...      # any Debian/Ubuntu base with apt
#
# The base must be Debian-like. With the official Python image, its Python is used;
# on a bare Debian base, Debian's python3 is installed.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS base
# Every stage carries the label, so `make test-image` can prune this project's old
# build leftovers and nothing else.
LABEL org.opencontainers.image.title="dlbricks" \
      org.opencontainers.image.description="JupyterLab, nbgrader, TensorFlow and the dlbricks course kit"
ENV DEBIAN_FRONTEND=noninteractive \
    LANG=C.UTF-8
# bubblewrap is the autograder's sandbox; tini reaps Jupyter's kernels.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# $extra is a list of package names: word splitting is wanted.
# hadolint ignore=SC2086
RUN apt-get update \
 && extra=""; command -v python3 >/dev/null || extra="python3 python3-venv" \
 && apt-get install -y --no-install-recommends bubblewrap tini ca-certificates $extra \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

# --- deps: the virtualenv with every dependency, compiled (the big, rarely rebuilt layer)
FROM base AS deps
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG TF_VARIANT=cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_COMPILE=1
# Only what decides the dependencies (pyproject.toml's extras, pinned by
# constraints.txt): editing lib/ or autograder/ leaves this stage cached.
# docker/host-ca.crt, when present, is a CA bundle for builds behind a
# TLS-inspecting proxy (the image test puts the host's there); the glob lets it be
# absent. It stays in the build stages only.
COPY pyproject.toml constraints.txt /src/
COPY docker/image_requirements.py docker/host-ca.cr[t] /src/docker/
# TensorFlow's C++ headers (~290 MB) serve only to compile custom ops. Bytecode
# with unchecked hashes stays valid whatever mtimes COPY gives the files: without
# it every kernel start would recompile TensorFlow's Python in memory.
RUN if [ -f /src/docker/host-ca.crt ]; then export PIP_CERT=/src/docker/host-ca.crt; fi \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --quiet -c /src/constraints.txt --upgrade pip \
 && /opt/venv/bin/python /src/docker/image_requirements.py /src/pyproject.toml /src/constraints.txt "$TF_VARIANT" > /tmp/requirements.txt \
 && /opt/venv/bin/pip install --quiet -c /src/constraints.txt -r /tmp/requirements.txt \
 && /opt/venv/bin/pip check \
 && rm -rf /opt/venv/lib/python3*/site-packages/tensorflow/include \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} + \
 && /opt/venv/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/venv/lib > /tmp/compileall.log

# --- wheel: the course package (dlbricks + autograder) as a wheel
FROM deps AS wheel
COPY README.md LICENSE /src/
COPY lib /src/lib
COPY autograder /src/autograder
RUN if [ -f /src/docker/host-ca.crt ]; then export PIP_CERT=/src/docker/host-ca.crt; fi \
 && /opt/venv/bin/pip wheel --quiet --no-deps --wheel-dir /wheels /src

# --- the image
FROM base
ARG NB_USER=student
ARG NB_UID=1000
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    TF_CPP_MIN_LOG_LEVEL=3 \
    TF_ENABLE_ONEDNN_OPTS=0 \
    MPLBACKEND=Agg \
    PYTHONDONTWRITEBYTECODE=1
RUN useradd --create-home --uid "${NB_UID}" --shell /bin/bash "${NB_USER}"
COPY --from=deps /opt/venv /opt/venv
COPY --from=wheel /wheels /tmp/wheels
RUN /opt/venv/bin/pip install --quiet --no-cache-dir --no-compile --no-index --no-deps --disable-pip-version-check /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels \
 && /opt/venv/bin/python -m compileall -q --invalidation-mode unchecked-hash \
      /opt/venv/lib/python3*/site-packages/dlbricks /opt/venv/lib/python3*/site-packages/autograder > /dev/null \
 && /opt/venv/bin/pip check --disable-pip-version-check \
 && /opt/venv/bin/jupyter labextension list > /tmp/labextensions.txt 2>&1 \
 && grep -q nbgrader /tmp/labextensions.txt \
 && rm /tmp/labextensions.txt
COPY --chown=${NB_UID}:${NB_UID} release /home/${NB_USER}/lessons
# The default Lab is the student's: nbgrader's instructor tools off, widget state saved in
# the notebook. An instructor runs the image with -e JUPYTER_CONFIG_PATH= to get them back.
COPY jupyter-config/student /opt/dlbricks/jupyter-config/student
ENV JUPYTER_CONFIG_PATH=/opt/dlbricks/jupyter-config/student
USER ${NB_USER}
WORKDIR /home/${NB_USER}
EXPOSE 8888
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8888/api', timeout=4)"]
ENTRYPOINT ["tini", "--"]
CMD ["jupyter", "lab", "--ip=0.0.0.0", "--port=8888", "--no-browser", "--notebook-dir=/home/student/lessons"]
