"""Command-line contracts: `flask rubrics check` and `flask create-user`."""
import shutil

from extensions import db
from models import User


def test_rubrics_check_passes_on_shipped_rubrics(app):
    result = app.test_cli_runner().invoke(args=["rubrics", "check"])
    assert result.exit_code == 0, result.output
    assert "0 invalid" in result.output
    assert "docent/exhibit-guiding" in result.output


def test_rubrics_check_names_file_field_and_reason(app, tmp_path):
    root = tmp_path / "rubrics"
    shutil.copytree(app.config["RUBRIC_DIR"], root)
    text = (root / "docent" / "exhibit-guiding.yaml").read_text(encoding="utf-8")
    (root / "docent" / "exhibit-guiding.yaml").write_text(text.replace("step: 0.5", "step: 0.3", 1),
                                                          encoding="utf-8")
    app.config["RUBRIC_DIR"] = str(root)
    result = app.test_cli_runner().invoke(args=["rubrics", "check"])
    assert result.exit_code == 1
    assert "exhibit-guiding.yaml" in result.output
    assert "step" in result.output and "not a multiple of step 0.3" in result.output
    assert "1 invalid" in result.output


def test_create_user(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "admin", "organiser", "--name", "管理员"],
                           input="s3cret-pw\ns3cret-pw\n")
    assert result.exit_code == 0, result.output
    user = db.session.query(User).filter_by(username="admin").one()
    assert user.role.value == "organiser" and user.check_password("s3cret-pw")
    again = runner.invoke(args=["create-user", "admin", "judge"], input="x\nx\n")
    assert again.exit_code == 1 and "already exists" in again.output
