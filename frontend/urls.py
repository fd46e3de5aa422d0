from django.urls import path

from frontend import views

app_name = "frontend"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("console/", views.console, name="console"),
    path("console/<slug:slug>/", views.console_round, name="console-round"),
    path("r/<slug:slug>/join/<str:token>/", views.join, name="join"),
    path("r/<slug:slug>/invite/<str:code>/", views.join_invite, name="join-invite"),
    path("r/<slug:slug>/resume/<str:token>/", views.resume, name="resume"),
    path("r/<slug:slug>/", views.participant_home, name="round"),
    path("r/<slug:slug>/card/", views.card_form, name="card"),
    path("r/<slug:slug>/confirm/<int:card_id>/", views.confirm_value, name="confirm"),
    path("r/<slug:slug>/vote/", views.vote, name="vote"),
    path("r/<slug:slug>/done/", views.done, name="done"),
    path("r/<slug:slug>/report/", views.report, name="report"),
]
