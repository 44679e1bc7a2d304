#include "controller/sip/parser/headers.h"
