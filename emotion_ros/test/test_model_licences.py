"""Every shipped model file has a row in the README's licence table, under a licence package.xml declares."""
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
MODELS = PACKAGE / 'emotion_ros' / 'models'
README = PACKAGE.parent / 'README.md'


def licence_table() -> dict:
    """{file path relative to models/: licence} from the README's "Data and licences" table."""
    section = README.read_text().split('## Data and licences', 1)[1].split('\n## ', 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip('|').split('|')]
        if len(cells) == 5 and cells[0].startswith('`'):
            licence = cells[4].strip('`')
            for name in re.findall(r'`([^`]+)`', cells[0]):
                rows[name] = licence
    return rows


def declared_licences() -> list:
    """(licence, its file or None) of each of package.xml's <license> elements."""
    root = ElementTree.parse(PACKAGE / 'package.xml').getroot()
    return [(element.text.strip(), element.get('file')) for element in root.findall('license')]


def test_every_model_file_has_a_row_and_every_row_a_file():
    shipped = {str(path.relative_to(MODELS)) for path in MODELS.rglob('*')
               if path.is_file() and '__pycache__' not in path.parts}
    listed = set(licence_table())
    assert shipped - listed == set(), 'model files without a row in the README licence table'
    assert listed - shipped == set(), 'README licence table rows for files that do not exist'


def test_every_row_names_a_licence_that_package_xml_declares_with_its_file():
    declared = declared_licences()
    assert set(licence_table().values()) <= {licence for licence, _ in declared}
    for licence, licence_file in declared:
        if licence_file is not None:
            assert (PACKAGE / licence_file).is_file(), f'{licence}: {licence_file} is missing'


def test_setup_py_names_every_licence_package_xml_declares():
    declared = re.search(r"license='([^']+)'", (PACKAGE / 'setup.py').read_text()).group(1)
    assert {licence for licence, _ in declared_licences()} == set(declared.split(' AND '))
