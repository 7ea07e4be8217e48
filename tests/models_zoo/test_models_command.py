from io import StringIO

from django.core.management import call_command

from models_zoo.registry import list_models


def test_it_lists_every_architecture_with_its_parameter_count_and_macs():
    out = StringIO()
    call_command("models", "--size", "128", stdout=out)
    lines = out.getvalue().splitlines()
    assert "GMACs@128" in lines[0]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert sorted(rows) == sorted(list_models())
    assert rows["gapnet_pl"][1] == "626,221" and rows["gapnet_pl"][2] == "626,221"
    assert all(float(row[-1]) > 0 for row in rows.values())
