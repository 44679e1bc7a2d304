#include "controller/sip/message/header_name.h"
