from django.contrib.auth import views as auth_views
from django.urls import path

from frontend import (
    articulation_views,
    console_views,
    guidance_views,
    privacy_views,
    report_views,
    similar_views,
    views,
)

app_name = "frontend"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("signup/", views.signup, name="signup"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password-reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="frontend/password_reset_done.html"),
        name="password-reset-done",
    ),
    path("password-reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password-reset-confirm"),
    path(
        "password-reset/complete/",
        auth_views.PasswordResetCompleteView.as_view(template_name="frontend/password_reset_complete.html"),
        name="password-reset-complete",
    ),
    path("console/", console_views.console, name="console"),
    path("console/new/", console_views.round_new, name="console-new"),
    path("console/<slug:slug>/", console_views.console_round, name="console-round"),
    path("console/<slug:slug>/live/", console_views.console_live, name="console-live"),
    path("console/<slug:slug>/edit/", console_views.round_edit, name="console-edit"),
    path("console/<slug:slug>/invitations/", console_views.invitations, name="console-invitations"),
    path(
        "console/<slug:slug>/invitations.csv", console_views.invitations_csv, name="console-invitations-csv"
    ),
    path("console/<slug:slug>/moderation/", console_views.moderation, name="console-moderation"),
    path("console/<slug:slug>/roles/", console_views.roles, name="console-roles"),
    path("console/<slug:slug>/audit/", console_views.audit, name="console-audit"),
    path("console/<slug:slug>/contexts/", console_views.contexts, name="console-contexts"),
    path("console/<slug:slug>/verify/", console_views.verify_export, name="console-verify"),
    path("r/<slug:slug>/join/<str:token>/", views.join, name="join"),
    path("r/<slug:slug>/invite/", views.invite_code_entry, name="invite-entry"),
    path("r/<slug:slug>/invite/<str:code>/", views.join_invite, name="join-invite"),
    path("r/<slug:slug>/resume/<str:token>/", views.resume, name="resume"),
    path("r/<slug:slug>/", views.participant_home, name="round"),
    path("r/<slug:slug>/card/", views.card_form, name="card"),
    path("r/<slug:slug>/card/similar/", similar_views.similar_while_typing, name="card-similar"),
    path("r/<slug:slug>/card/<int:card_id>/similar/", similar_views.similar_after_submit, name="card-similar-step"),
    path("r/<slug:slug>/card/<int:card_id>/edit/", views.card_edit, name="card-edit"),
    path("r/<slug:slug>/confirm/<int:card_id>/", views.confirm_value, name="confirm"),
    path("r/<slug:slug>/vote/", views.vote, name="vote"),
    path("r/<slug:slug>/translation/<str:key>/", views.translation_status, name="translation-status"),
    path("r/<slug:slug>/done/", views.done, name="done"),
    path("r/<slug:slug>/report/", report_views.report, name="report"),
    path("r/<slug:slug>/report/guidance/", guidance_views.guidance_try, name="guidance"),
    path("r/<slug:slug>/chat/", articulation_views.chat, name="chat"),
    path("r/<slug:slug>/chat/status/", articulation_views.chat_status, name="chat-status"),
    path("r/<slug:slug>/privacy/", privacy_views.privacy, name="privacy"),
    path("r/<slug:slug>/privacy/data.json", privacy_views.privacy_download, name="privacy-download"),
    path("r/<slug:slug>/privacy/delete/", privacy_views.privacy_delete, name="privacy-delete"),
]
