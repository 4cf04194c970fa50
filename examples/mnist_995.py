"""Former name of examples/mnist_best.py: runs it, same flags (it now writes mnist_best.*)."""
import pathlib
import runpy

runpy.run_path(str(pathlib.Path(__file__).with_name("mnist_best.py")), run_name="__main__")
