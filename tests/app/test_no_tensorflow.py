"""The server never imports TensorFlow: every page runs on LiteRT, and training runs in a child process.

TensorFlow in the server's process makes every later garbage collection (Streamlit collects after
each script run) several times slower and keeps hundreds of megabytes; see docs/reliability.md.
Each page is run in a fresh process where importing TensorFlow or Keras is recorded and refused.
The browser test (tests/e2e/test_training_job.py) checks the real server's memory map too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.app.conftest import REPO

VISIT_EVERY_PAGE = """
import json, sys
attempts = []
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'):
            attempts.append(name)
            raise ImportError('TensorFlow is blocked in the server: ' + name)
sys.meta_path.insert(0, Block())
from pathlib import Path
from streamlit import config
from tests.app.conftest import app_test
config.set_option('server.address', '127.0.0.1')  # the owner on this machine: the Training page is listed
app = app_test()
app.session_state['live_mode'] = 'Snapshots'  # WebRTC needs a browser
app.run()
errors = [e.value for e in app.exception]
pages = sorted(p for p in Path('pages').glob('*.py') if p.name != 'home.py')
for page in pages:
    app.switch_page(str(Path.cwd() / page)).run()
    errors += [f'{page.name}: {e.value}' for e in app.exception]
    if page.name.startswith('5_Training'):  # the form, with the recipe's precision shown
        app.text_input(key='train_name').input('not-started').run()
print(json.dumps({'pages': [p.name for p in pages], 'errors': errors, 'attempts': attempts,
                  'loaded': sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))}))
"""


def test_no_page_imports_tensorflow(app_env) -> None:  # noqa: ANN001
    env = {**os.environ, "FER_MODELS_DIR": str(app_env["models"]), "FER2013_PATH": str(app_env["dataset"])}
    env.pop("FER_APP_PUBLIC", None)
    done = subprocess.run(
        [sys.executable, "-c", VISIT_EVERY_PAGE], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(report["pages"]) >= 6 and any(p.startswith("5_Training") for p in report["pages"])
    assert report["errors"] == []
    assert report["attempts"] == [] and report["loaded"] == []


def test_the_block_sees_an_import_of_keras() -> None:
    code = VISIT_EVERY_PAGE.split("from pathlib import Path")[0] + (
        "try:\n    import keras\nexcept ImportError:\n    pass\nprint(json.dumps(attempts))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["keras"]
