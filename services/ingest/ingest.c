/* not yet written */
#include "mm/err.h"
