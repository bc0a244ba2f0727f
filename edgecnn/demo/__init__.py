"""Demo material the project makes itself: videos of Fashion-MNIST items (`synthvideo`) and
of drawn objects that are not garments (`objectvideo`), for the demo, the tests and bench."""
