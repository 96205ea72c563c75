"""Every text the customer or manager sees, and every command word.

Russian, warm and short. This module imports nothing from the project, so both
handlers.py and keyboard.py can use it without a cycle.
"""

# --- Command names carried in button payloads ({"cmd": ...}) -----------------
CMD_START = "start"
CMD_MENU = "menu"
CMD_HELP = "help"
CMD_CANCEL = "cancel"
CMD_BACK = "back"

# Typed words that mean the same as a button: a customer who types "Отмена" gets
# exactly what the Cancel button gives. Keys are compared lower-cased and stripped.
TYPED_COMMANDS = {
    "начать": CMD_START,
    "start": CMD_START,
    "старт": CMD_START,
    "привет": CMD_START,
    "здравствуйте": CMD_START,
    "меню": CMD_MENU,
    "главное меню": CMD_MENU,
    "menu": CMD_MENU,
    "помощь": CMD_HELP,
    "справка": CMD_HELP,
    "help": CMD_HELP,
    "отмена": CMD_CANCEL,
    "отменить": CMD_CANCEL,
    "cancel": CMD_CANCEL,
    "назад": CMD_BACK,
    "back": CMD_BACK,
}

# --- Button labels (VK allows 40 characters) --------------------------------
BTN_MENU = "Меню"
BTN_HELP = "Помощь"
BTN_CANCEL = "Отмена"
BTN_BACK = "Назад"

# --- Texts -------------------------------------------------------------------
GREETING = (
    "Здравствуйте! 👋 Я помогу оформить заказ — выберите, что вам нужно, "
    "в меню ниже."
)
MENU = "Главное меню. Чем могу помочь?"
HELP = (
    "Я бот сообщества. Выберите пункт меню кнопкой — я проведу по шагам.\n"
    "В любой момент можно написать «Меню», чтобы вернуться в начало, "
    "или «Отмена», чтобы прервать оформление."
)
NOT_UNDERSTOOD = (
    "Простите, я не совсем понял 🙏 Пожалуйста, выберите пункт меню кнопкой "
    "или напишите «Помощь»."
)
CANCELLED = "Хорошо, отменил. Возвращаю вас в главное меню."
NOTHING_TO_CANCEL = "Отменять нечего — вы в главном меню."
APOLOGY = (
    "Ой, у нас что-то пошло не так 😔 Уже разбираемся. "
    "Пожалуйста, попробуйте ещё раз чуть позже или напишите «Меню»."
)
SNACKBAR_OUTDATED = "Эта кнопка уже неактуальна"
SNACKBAR_APOLOGY = "Что-то пошло не так, попробуйте ещё раз"
