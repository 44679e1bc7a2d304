#include "controller/sip/parser/params.h"
