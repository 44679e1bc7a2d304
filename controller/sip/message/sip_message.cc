#include "controller/sip/message/sip_message.h"
