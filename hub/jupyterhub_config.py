"""JupyterHub for a MedSynth course on one machine (docs/instructors.md walks through it).

The course is a checkout at $MEDSYNTH_COURSE_DIR (default /srv/medsynth) with the course
installed in the environment that runs the students' servers. Two ways to run it:

- Plain JupyterHub, as root, from the course's own environment:

      sudo /srv/medsynth/.venv/bin/jupyterhub -f /srv/medsynth/hub/jupyterhub_config.py

  It then needs, besides jupyterhub and configurable-http-proxy (npm): jupyterhub-systemdspawner
  (one systemd unit per student, which enforces the limits below), jupyterhub-firstuseauthenticator
  (a student picks a password at first login) and jupyterhub-idle-culler.
- The Littlest JupyterHub (TLJH): copy this file to /opt/tljh/config/jupyterhub_config.d/ and run
  `sudo tljh-config reload hub`. TLJH's own authenticator (FirstUse by default, or the OAuth one set
  with tljh-config), systemd spawner, proxy and idle culler stay; this file sets the per-seat limits
  (they replace `tljh-config set limits.*`), the students' environment and the first page.

tests/hub/test_jupyterhub.py loads this file and overrides only what a test must: the
DummyAuthenticator, the SimpleLocalProcessSpawner, ports and state in a temporary folder.
"""
import os
import sys

c = get_config()  # noqa: F821 (JupyterHub provides it to config files)

COURSE_DIR = os.environ.get("MEDSYNTH_COURSE_DIR", "/srv/medsynth")
STUDENT_DIR = "medsynth"  # each student's own copy of the chapters, in their home

# Per seat, from the measured cpu-profile chapter runs (results/chapter-NN-cpu.json): the guarantee is
# the largest kernel peak (chapter 05) plus the Jupyter server, the limit adds 25% headroom, and the CPU
# limit is the 2 torch threads the runs used. `python -m medsynth_nb.course.seats` prints the derivation;
# tests/course/test_seats.py fails if these fall below it. The systemd spawner enforces the limits (the
# guarantee sizes how many seats a machine holds, see docs/instructors.md).
CPU_LIMIT = 2
c.Spawner.mem_guarantee = "1792M"
c.Spawner.mem_limit = "2304M"
c.Spawner.cpu_limit = CPU_LIMIT

c.Spawner.environment = {
    "MEDSYNTH_PROFILE": "cpu",  # the profile the limits were measured with (a hub has no GPU)
    # torch's threads = the CPU limit: more threads than the cgroup's quota only thrash, and the
    # chapters' figures reproduce with the thread count they were recorded with.
    "OMP_NUM_THREADS": str(CPU_LIMIT),
    # The phantom's anatomy cache, built once by the instructor and shared read-only.
    "MEDSYNTH_CACHE": os.path.join(COURSE_DIR, "cache"),
}

# Each student starts in their own copy of the chapters, made at their first start (as the student, so
# they own it); later starts keep their edits. The solutions (notebooks/solutions/) are not copied. No
# braces in the command: the systemd spawner formats it with {USERNAME}.
COPY_CHAPTERS = (f'[ -e ~/{STUDENT_DIR} ] || (mkdir -p ~/{STUDENT_DIR} && cp "{COURSE_DIR}"/notebooks/*.ipynb '
                 f'~/{STUDENT_DIR}/); exec jupyterhub-singleuser "$@"')
c.Spawner.cmd = ["sh", "-c", COPY_CHAPTERS, "jupyterhub-singleuser"]  # the hub's arguments follow: "$@"
c.Spawner.default_url = f"/lab/tree/{STUDENT_DIR}/00_synthesis_in_one_afternoon.ipynb"

if "TLJH_INSTALL_PREFIX" not in os.environ:  # TLJH sets this and has already chosen the rest
    c.JupyterHub.bind_url = "http://:8000"  # put a TLS-terminating proxy (nginx, caddy) in front of it
    c.JupyterHub.authenticator_class = "firstuseauthenticator.FirstUseAuthenticator"
    # Only the students listed (comma-separated) or added on the admin page sign in; each picks a
    # password at the first sign-in.
    c.FirstUseAuthenticator.create_users = False
    c.Authenticator.allowed_users = set(filter(None, os.environ.get("MEDSYNTH_STUDENTS", "").split(",")))
    c.Authenticator.admin_users = set(filter(None, os.environ.get("MEDSYNTH_INSTRUCTORS", "").split(",")))
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.dynamic_users = True  # no Unix account per student; their home is /var/lib/<name>
    c.SystemdSpawner.extra_paths = [os.path.join(sys.prefix, "bin")]  # the course's environment
    # An idle server (no browser tab, no running cell) is stopped after an hour; its files stay.
    c.JupyterHub.services = [{"name": "idle-culler",
                              "command": [sys.executable, "-m", "jupyterhub_idle_culler", "--timeout=3600"]}]
    c.JupyterHub.load_roles = [{"name": "idle-culler", "services": ["idle-culler"],
                                "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"]}]
