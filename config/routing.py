from django.urls import path

from frontend.live.consumer import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/<str:topic>/", LiveConsumer.as_asgi()),
]
