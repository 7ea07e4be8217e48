"""How each of the paper's 13 classes looks in the protein channel, in words a newcomer can use.

The paper's scholars were taught the classes from examples and descriptions like these before they
labelled; a study's coordinator starts from them and may rewrite them.
"""

CYTO13_LOOKS = {
    0: "Thin bundled fibres and a bright cortical rim at the cell edge; stress fibres cross the cell.",
    1: "One or two bright dots next to the nucleus, nothing else stained.",
    2: "Diffuse, even staining that fills the cell body outside the nucleus, dimmer towards the edge.",
    3: "A fine net around the nucleus that follows the ER panel's red network closely, densest near the nucleus.",
    4: "A compact bright ribbon or cluster on one side of the nucleus.",
    5: "Wavy filaments spreading from around the nucleus to the periphery, thicker and less straight than microtubules.",
    6: "Long straight fibres radiating from the centre, the same as the microtubules panel's red fibres.",
    7: "Short rods and threads spread through the cytoplasm, a granular network, not touching the nucleus.",
    8: "A sharp ring exactly at the border of the nucleus.",
    9: "A few bright blobs inside the nucleus, the rest of the nucleus dim.",
    10: "The whole nucleus stained evenly, the nucleoli often darker; the cytoplasm dark.",
    11: "A thin bright outline at the cell's outer edge.",
    12: "Many separate round dots of similar size scattered through the cytoplasm.",
}
