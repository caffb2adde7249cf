# not yet written
file(WRITE ${OUT} "/* generated */\ntypedef int mm__schemas_placeholder;\n")
