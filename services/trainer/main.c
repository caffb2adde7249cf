#include "mm/err.h"
int main(void) { return 0; }
