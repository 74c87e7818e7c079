"""What monitoring computes from served traffic, as plain functions of plain values.

No I/O and no service here: the collector (serve/monitoring/) feeds these functions the rows
of a window and the reference of the model that scored them; the tests feed them real data.
whylogs is reached only through modelship.profiling.
"""
